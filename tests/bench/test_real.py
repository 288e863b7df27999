"""bench/real.py on a tiny fixture: both systems trained and scored, every table filled."""

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, write_jsonl

spec = importlib.util.spec_from_file_location("bench_real", ROOT / "bench" / "real.py")
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory, corpus_records):
    folder = tmp_path_factory.mktemp("real")
    corpus = write_jsonl(folder / "corpus.jsonl", corpus_records[::6])
    # "Real" stories: other corpus articles cut to their lead, as a brief would be.
    dev = [{**r, "id": f"dev-{r['id']}", "text": " ".join(r["text"].split()[:60])}
           for r in corpus_records[1::40]]
    return corpus, write_jsonl(folder / "dev.jsonl", dev), len(dev)


def test_run_scores_both_systems_on_the_dev_set(fixture_files):
    corpus, dev, n = fixture_files
    result = real.run(corpus, [dev, dev], n_errors=5)
    assert [d["dev_records"] for d in result["dev_sets"]] == [n, n]
    first, second = result["dev_sets"]
    assert first["systems"] == second["systems"]  # trained once, scored twice alike
    for system in ("tagsim", "baseline"):
        scored = first["systems"][system]
        agreement = scored["agreement_type"]
        assert agreement["summary"]["n"] == n
        assert 0.0 <= agreement["summary"]["accuracy"] <= 1.0
        assert {r["label"] for r in scored["sectors"]["per_label"]} == {
            "biomed", "clean_energy", "digital", "fintech", "policy"}
        assert sum(map(sum, agreement["confusion"])) == n
        # Fully right needs both heads right, so it is at most the agreement accuracy.
        assert scored["fully_right"] <= agreement["summary"]["accuracy"]
    errors = first["worst_errors"]
    assert len(errors) <= 5
    assert [e["weight"] for e in errors] == sorted((e["weight"] for e in errors), reverse=True)
    for e in errors:
        wrong_type = e["agreement_type"]["true"] != e["agreement_type"]["predicted"]
        wrong_sectors = set(e["sectors"]["true"]) != set(e["sectors"]["predicted"])
        assert wrong_type or wrong_sectors
    text = real.report(result)
    assert "**tagsim**" in text and "TfidfVectorizer() + LinearSVC()" in text
    assert text.count("\n| ") >= 4 + 2 * (8 + 5 + 8)


def test_fully_right_needs_every_sector_and_the_type():
    class Dev:
        targets = {"sectors": [["biomed"], ["digital", "policy"], []],
                   "agreement_type": ["none", "licensing", "none"]}

        def __len__(self):
            return 3

    predicted = {"sectors": [["biomed"], ["digital"], []],
                 "agreement_type": ["none", "licensing", "investment"]}
    assert real.fully_right(Dev(), predicted) == round(1 / 3, 3)


def test_command_line_prints_json_and_refuses_a_missing_dev_set(fixture_files, tmp_path):
    corpus, dev, n = fixture_files
    done = subprocess.run([sys.executable, "bench/real.py", "--data", str(corpus), "--dev", str(dev),
                           "--errors", "3", "--json"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert [d["dev_records"] for d in json.loads(done.stdout)["dev_sets"]] == [n]
    missing = subprocess.run([sys.executable, "bench/real.py", "--dev", str(tmp_path / "nope.jsonl")],
                             cwd=ROOT, capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert "nope.jsonl: no such file" in missing.stderr
