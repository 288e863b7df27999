import json
import shutil

import pytest

from tests.conftest import write_jsonl
from training.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_version_and_metrics(tmp_path, small_corpus, capsys):
    code, out, err = run(capsys, "train", "--data", str(small_corpus), "--home", str(tmp_path),
                         "--folds", "2")
    assert code == 0
    assert (tmp_path / "versions" / out.strip()).is_dir()
    assert "| sectors | multi-label |" in err and "cross-validating" in err


def test_train_bad_record_is_one_line_and_exit_1(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "text": "Deal.", "sectors": [],
                                               "agreement_type": "merger"}])
    code, out, err = run(capsys, "train", "--data", str(data), "--home", str(tmp_path / "h"))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"tagsim train: error: {data}, line 1, field 'agreement_type': "
                          "unknown label 'merger'")
    assert not (tmp_path / "h" / "current").exists()


def test_tag_prints_the_api_answer(trained_home, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text("The bank signed a letter of intent to buy a payments start-up.")
    code, out, _ = run(capsys, "tag", "--home", str(trained_home), str(article))
    answer = json.loads(out)
    assert code == 0
    assert set(answer) == {"model_version", "sectors", "sector_scores", "agreement_type",
                           "agreement_scores"}


def test_tag_reads_json_and_stdin_with_explain(trained_home, capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(
        {"title": "Solar", "text": "A solar farm was financed by a green bond."})))
    code, out, _ = run(capsys, "tag", "--home", str(trained_home), "--explain", "-")
    assert code == 0 and "explanation" in json.loads(out)


@pytest.mark.parametrize("content, message", [
    ("   ", "text has no words"),
    ('{"text": 5}', "needs a string field 'text'"),
    ('{"text": "x", "title": 3}', "'title' must be a string"),
])
def test_tag_bad_input(trained_home, tmp_path, capsys, content, message):
    path = tmp_path / "a.txt"
    path.write_text(content)
    code, _, err = run(capsys, "tag", "--home", str(trained_home), str(path))
    assert code == 1 and message in err and err.count("\n") == 1


def test_tag_missing_file_and_missing_model(tmp_path, trained_home, capsys):
    code, _, err = run(capsys, "tag", "--home", str(trained_home), str(tmp_path / "nope.txt"))
    assert code == 1 and "nope.txt: cannot read" in err
    code, _, err = run(capsys, "tag", "--home", str(tmp_path), str(tmp_path / "nope.txt"))
    assert code == 1 and "no trained model" in err


def loaded_labels(home):
    from model.store import load_verified

    head = {h.name: h for h in load_verified(home, with_index=False).heads}["agreement_type"]
    return head.labels


def test_evaluate_json_shape(trained_home, small_corpus, capsys):
    code, out, _ = run(capsys, "evaluate", "--home", str(trained_home), "--data",
                       str(small_corpus), "--json")
    metrics = json.loads(out)
    assert code == 0
    assert set(metrics) == {"sectors", "agreement_type"}
    assert set(metrics["agreement_type"]) == {"accuracy", "micro_f1", "macro_f1", "n",
                                              "per_label"}
    assert set(metrics["agreement_type"]["per_label"]) == set(loaded_labels(trained_home))
    assert {"precision_at_1", "ndcg", "lrap"} <= set(metrics["sectors"])
    assert metrics["agreement_type"]["accuracy"] > 0.9  # the data it was trained on


def test_evaluate_cross_validation(small_corpus, capsys):
    code, out, _ = run(capsys, "evaluate", "--data", str(small_corpus), "--cv", "2", "--json")
    metrics = json.loads(out)
    assert code == 0 and 0.3 < metrics["agreement_type"]["macro_f1"] <= 1.0
    assert metrics["sectors"]["n"] == len(small_corpus.read_text().splitlines())


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2
    assert "--data" in capsys.readouterr().err


def test_versions_and_rollback(tmp_path, small_corpus, capsys):
    from training.train import train

    quiet = {"folds": 0, "progress": False, "log": lambda *_: None}
    first = train(small_corpus, tmp_path, **quiet)["version"]
    second = train(small_corpus, tmp_path, **quiet)["version"]
    code, out, _ = run(capsys, "versions", "--home", str(tmp_path))
    assert code == 0 and out.splitlines() == [f"  {first}", f"* {second}"]
    code, out, _ = run(capsys, "rollback", "--home", str(tmp_path))
    assert code == 0 and out.strip() == first
    code, _, err = run(capsys, "rollback", "--home", str(tmp_path))
    assert code == 1 and "no version older" in err
    code, out, _ = run(capsys, "rollback", "--home", str(tmp_path), "--to", second)
    assert code == 0 and out.strip() == second


def test_similar_and_index_commands(trained_home, tmp_path, small_corpus, capsys):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True)
    article = tmp_path / "a.txt"
    article.write_text("A wind farm developer signed a power purchase agreement.")
    code, out, _ = run(capsys, "similar", "--home", str(home), "-k", "3", str(article))
    results = json.loads(out)["results"]
    assert code == 0 and len(results) == 3
    subset = write_jsonl(tmp_path / "sub.jsonl", [
        {"id": "n1", "text": "A wind farm developer signed a power purchase agreement."},
        {"id": "n2", "text": "A bank acquired a payments company.", "sectors": ["fintech"],
         "agreement_type": "acquisition"}])
    code, out, _ = run(capsys, "index", "--home", str(home), "--data", str(subset))
    assert code == 0
    code, out, _ = run(capsys, "similar", "--home", str(home), "-k", "5", str(article))
    results = json.loads(out)["results"]
    assert [r["id"] for r in results][0] == "n1" and len(results) <= 2
    code, _, err = run(capsys, "similar", "--home", str(home), "-k", "500", str(article))
    assert code == 1 and "-k must be between 1 and 100" in err


def test_serve_without_a_loadable_model_is_one_line(tmp_path, trained_home, capsys):
    code, _, err = run(capsys, "serve", "--home", str(tmp_path / "empty"), "--port", "1")
    assert code == 1 and "no trained model" in err and err.count("\n") == 1
    home = tmp_path / "damaged"
    shutil.copytree(trained_home, home, symlinks=True)
    model = home / "current" / "model.joblib"
    data = model.read_bytes()
    model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    code, _, err = run(capsys, "serve", "--home", str(home), "--port", "1")
    assert code == 1 and "does not match the sha256" in err and err.count("\n") == 1


def test_train_threshold_objective_moves_the_thresholds(tmp_path, small_corpus, capsys):
    import json as _json
    runs = {}
    for objective in ("f1", "precision:0.97"):
        home = tmp_path / objective.replace(":", "_")
        code, out, _ = run(capsys, "train", "--data", str(small_corpus), "--home", str(home),
                           "--folds", "0", "--quiet", "--threshold-objective", objective)
        assert code == 0
        manifest = _json.loads((home / "current" / "manifest.json").read_text())
        assert manifest["parameters"]["heads"]["threshold_objective"] == objective
        runs[objective] = manifest["heads"][0]["thresholds"]
    assert runs["precision:0.97"] != runs["f1"]
    # The F1 cut of a label with out-of-fold precision under 0.97 must rise to reach it.
    assert max(runs["precision:0.97"][k] - runs["f1"][k] for k in runs["f1"]) > 0


@pytest.mark.parametrize("objective", ["f2", "precision:2", "recall"])
def test_train_bad_threshold_objective_is_a_usage_error(tmp_path, small_corpus, capsys, objective):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(small_corpus), "--home", str(tmp_path),
              "--threshold-objective", objective])
    assert exc.value.code == 2
    assert "threshold objective must be" in capsys.readouterr().err.splitlines()[-1]
