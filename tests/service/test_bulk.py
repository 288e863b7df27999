"""Bulk tagging and index builds on a real Dask cluster (a LocalCluster of 2 worker processes)."""

import csv
import json
import os
import shutil

import numpy as np
import pytest

from service import create_app
from service.settings import Settings
from tests.conftest import write_jsonl
from training import index as index_module
from training.cli import main


@pytest.fixture(scope="session")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="session")
def archive(tmp_path_factory, corpus_records):
    """Three partitions (JSONL, CSV, Parquet) of unlabelled articles, a few bad records in one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("archive")
    articles = [{"id": r["id"], "title": r["title"], "text": r["text"]} for r in corpus_records[1:61:2]]
    write_jsonl(folder / "part-a.jsonl", [
        *articles[:8],
        "{not json",
        {"id": "no-text", "title": ""},  # no text in any text field (a title alone would do)
        {"id": "no-words", "text": "  ... !!! "},
        {"id": articles[0]["id"], "text": "The same id again."},
        *articles[8:12]])
    with open(folder / "part-b.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["id", "title", "text"])
        writer.writeheader()
        writer.writerows(articles[12:22])
    pq.write_table(pa.Table.from_pylist(articles[22:30]), folder / "part-c.parquet")
    return folder, articles


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bulk_tagging_answers_as_the_api_and_logs_bad_records(trained_home, archive, scheduler,
                                                              tmp_path, capsys):
    folder, articles = archive
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "tag", "--home", trained_home, "--data", folder / "part-*",
                            "--out", out, "--scheduler", scheduler)
    summary = json.loads(stdout)
    assert code == 0, err
    assert (summary["partitions"], summary["written"], summary["skipped"]) == (3, 3, 0)
    assert (summary["articles"], summary["errors"]) == (30, 4)
    assert sorted(p.name for p in out.glob("*.jsonl")) == ["errors.jsonl", "part-a.jsonl",
                                                           "part-b.jsonl", "part-c.jsonl"]
    rows = [r for name in ("a", "b", "c") for r in read_jsonl(out / f"part-{name}.jsonl")]
    assert [r["id"] for r in rows] == [a["id"] for a in articles]  # ids kept, order kept
    api = create_app({"TESTING": True}, Settings(home=trained_home)).test_client()
    for article, row in list(zip(articles, rows, strict=True))[::5]:
        answer = api.post("/v1/tag", json={"title": article["title"], "text": article["text"]})
        assert {k: v for k, v in row.items() if k != "id"} == answer.get_json()
    errors = read_jsonl(out / "errors.jsonl")
    assert [(e["file"], e["line"]) for e in errors] == [(str(folder / "part-a.jsonl"), n)
                                                        for n in (9, 10, 11, 12)]
    assert "not valid JSON" in errors[0]["reason"] and "field 'text': no text" in errors[1]["reason"]
    # The advice is true for `tagsim tag`, which has no --allow-empty (issue 22).
    assert "--allow-empty" not in errors[1]["reason"] and "or leave it out" in errors[1]["reason"]
    assert "no words" in errors[2]["reason"] and "already used on line 1" in errors[3]["reason"]
    assert "part-c.jsonl: 8 articles, 0 errors" in err  # a line per partition off a terminal


def test_a_rerun_skips_complete_partitions(trained_home, archive, scheduler, tmp_path, capsys):
    folder, _ = archive
    out = tmp_path / "out"
    args = ("tag", "--home", trained_home, "--data", folder / "part-*", "--out", out,
            "--scheduler", scheduler)
    assert run(capsys, *args)[0] == 0
    (out / "part-b.jsonl").unlink()  # as if the run had been killed while writing it
    (out / ".part-b.jsonl.1234.tmp").write_text('{"half": ')
    kept = (out / "part-a.jsonl").stat().st_mtime_ns
    code, stdout, _ = run(capsys, *args)
    summary = json.loads(stdout)
    assert code == 0 and (summary["written"], summary["skipped"]) == (1, 2)
    assert summary["articles"] == 10 and summary["errors"] == 0
    assert (out / "part-a.jsonl").stat().st_mtime_ns == kept
    assert len(read_jsonl(out / "part-b.jsonl")) == 10
    assert len(read_jsonl(out / "errors.jsonl")) == 4  # still every partition's errors


def test_parquet_output_with_explanations_and_neighbours_on_a_local_cluster(
        trained_home, archive, tmp_path, capsys):
    import pyarrow.parquet as pq

    folder, articles = archive
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "tag", "--home", trained_home, "--data", folder / "part-c.parquet",
                            "--out", out, "--format", "parquet", "--explain", "--similar", "3",
                            "--workers", "2")
    assert code == 0, err
    rows = pq.read_table(out / "part-c.parquet").to_pylist()
    assert [r["id"] for r in rows] == [a["id"] for a in articles[22:30]]
    assert all(r["agreement_type"]["label"] and set(r["sector_scores"]) == {
        "biomed", "clean_energy", "digital", "fintech", "policy"} for r in rows)
    similar = json.loads(rows[0]["similar"])
    assert len(similar) == 3 and similar[0]["score"] >= similar[-1]["score"]
    assert json.loads(rows[0]["explanation"])


@pytest.mark.parametrize("argv, message", [
    (["--data", "x.jsonl"], "--data needs --out DIR"),
    (["a.txt", "--data", "x.jsonl", "--out", "o"], "not both"),
    (["--data", "x.jsonl", "--out", "o", "--similar", "101"],
     "argument --similar: expected a whole number from 0 to 100"),
    ([], "give FILE"),
])
def test_bulk_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["tag", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_no_matching_file_is_one_line_and_exit_1(trained_home, tmp_path, capsys):
    code, out, err = run(capsys, "tag", "--home", trained_home, "--data", tmp_path / "none-*.jsonl",
                         "--out", tmp_path / "out")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "no .jsonl.gz, .jsonl, .csv.gz, .csv, .parquet file matches" in err


def test_an_index_built_on_the_cluster_is_the_local_one_bit_for_bit(
        trained_home, small_corpus, scheduler, tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "BLOCK", 150)  # several blocks, spread over both workers
    built = {}
    for name, options in (("local", {"n_jobs": 1}), ("cluster", {"scheduler": scheduler})):
        home = tmp_path / name
        shutil.copytree(trained_home, home, symlinks=True)
        version = index_module.reindex(small_corpus, home, log=lambda *_: None, **options)["version"]
        built[name] = home / "versions" / version
    local, cluster = built["local"], built["cluster"]
    files = sorted(p.relative_to(local) for p in (local / "index").iterdir())
    assert files and files == sorted(p.relative_to(cluster) for p in (cluster / "index").iterdir())
    for name in [*files, "documents.jsonl"]:
        assert (local / name).read_bytes() == (cluster / name).read_bytes(), name
    with np.load(local / "labels.npz") as a, np.load(cluster / "labels.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert os.path.getsize(local / "documents.jsonl") > 0


def test_bulk_tagging_takes_the_operating_point_of_the_api(trained_home, archive, scheduler,
                                                           tmp_path, capsys):
    folder, articles = archive
    out = tmp_path / "out"
    code, _, err = run(capsys, "tag", "--home", trained_home, "--data", folder / "part-b.csv",
                       "--out", out, "--scheduler", scheduler, "--threshold", "0.05",
                       "--limit", "2")
    assert code == 0, err
    rows = read_jsonl(out / "part-b.jsonl")
    api = create_app({"TESTING": True}, Settings(home=trained_home)).test_client()
    for article, row in zip(articles[12:22], rows, strict=True):
        answer = api.post("/v1/tag", json={"title": article["title"], "text": article["text"],
                                           "threshold": 0.05, "limit": 2}).get_json()
        assert {k: v for k, v in row.items() if k != "id"} == answer
    assert any(len(r["sectors"]) == 2 for r in rows)
    with pytest.raises(SystemExit) as info:  # a bad option value is a usage error: exit 2
        run(capsys, "tag", "--home", trained_home, "--data", folder / "part-b.csv",
            "--out", tmp_path / "other", "--limit", "0")
    err = capsys.readouterr().err
    assert info.value.code == 2 and "argument --limit" in err and err.count("\n") == 1
