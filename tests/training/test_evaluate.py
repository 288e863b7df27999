"""What `tagsim evaluate` reports: per-label figures, ranking measures, the worst records."""

import json

import numpy as np
import pytest

from tests.conftest import write_jsonl
from tests.training.test_tune import topic_records
from training import evaluate
from training.cli import main
from training.datasets import load_dataset
from training.evaluate import cross_validate, ranking_measures, worst_records
from training.train import make_tagger


def test_ranking_measures_by_hand():
    T = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    S = np.array([[0.9, 0.5, 0.1],   # the true label first
                  [0.8, 0.7, 0.1]])  # true labels second and third
    S = np.vstack([S, [0.3, 0.2, 0.1]])  # a record with no true label is left out
    m = ranking_measures(T, S)
    assert m["n_ranked"] == 2
    assert m["precision_at_1"] == 0.5
    assert m["precision_at_3"] == pytest.approx((1 / 3 + 2 / 3) / 2, abs=1e-4)
    # Record 2: gains at ranks 2 and 3 -> (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3)).
    second = (1 / np.log2(3) + 0.5) / (1 + 1 / np.log2(3))
    assert m["ndcg"] == pytest.approx((1 + second) / 2, abs=1e-4)
    assert m["lrap"] == pytest.approx((1 + (1 / 2 + 2 / 3) / 2) / 2, abs=1e-4)


def test_worst_records_come_first(tmp_path):
    records = [{"id": f"r{i}", "title": f"t{i}", "text": "words here", "labels": ["a"]}
               for i in range(3)] + [{"id": "r3", "title": "", "text": "w", "labels": ["b"]}]
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", records), label_fields=["labels"])
    predicted = [["a"], ["b"], ["a"], ["a", "b"]]
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.3], [0.7, 0.8]])
    rows = worst_records(dataset, "labels", predicted, scores, ["a", "b"], 5)
    assert [r["id"] for r in rows] == ["r1", "r3"]  # two wrong decisions, then one; r0, r2 right
    assert rows[0] == {"id": "r1", "title": "t1", "true": ["a"], "predicted": ["b"],
                       "wrong": 2, "loss": 1.2}
    assert worst_records(dataset, "labels", predicted, scores, ["a", "b"], 1)[0]["id"] == "r1"


def test_evaluate_json_has_per_label_ranking_and_errors(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", topic_records(45))
    code = main(["evaluate", "--data", str(data), "--label-field", "labels", "--cv", "3",
                 "--json", "--errors", "2", "--jobs", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)["labels"]
    assert set(out["per_label"]) == {"alpha", "beta", "gamma"}
    alpha = out["per_label"]["alpha"]
    assert set(alpha) == {"precision", "recall", "f1", "support"}
    assert alpha["support"] == sum(1 for r in topic_records(45) if "alpha" in r["labels"])
    for key in ("precision_at_1", "precision_at_3", "precision_at_5", "ndcg", "ndcg_at_5",
                "lrap"):
        assert 0 < out[key] <= 1
    assert out["precision_at_1"] >= 0.9 and out["n_ranked"] == 45
    assert len(out["errors"]) <= 2
    for row in out["errors"]:
        assert set(row) == {"id", "title", "true", "predicted", "wrong", "loss"}
        assert set(row["true"]) != set(row["predicted"])


def test_evaluate_errors_of_a_trained_model_as_a_table(tmp_path, capsys):
    records = topic_records(30)
    data = write_jsonl(tmp_path / "d.jsonl", records)
    home = tmp_path / "home"
    assert main(["train", "--data", str(data), "--label-field", "labels", "--home", str(home),
                 "--folds", "0", "--quiet"]) == 0
    for record in records[:3]:  # mislabel three: the model will disagree with them
        record["labels"] = ["gamma"] if record["labels"][0] != "gamma" else ["alpha"]
    wrong = write_jsonl(tmp_path / "w.jsonl", records)
    capsys.readouterr()
    assert main(["evaluate", "--data", str(wrong), "--home", str(home), "--errors", "3"]) == 0
    out = capsys.readouterr().out
    assert "labels: the 3 records most wrong" in out and "| P@1 |" in out
    listed = {line.split("|")[1].strip() for line in out.splitlines()
              if line.startswith("| d")}
    assert listed == {"d0", "d1", "d2"}


def test_params_without_cv_is_an_error(trained_home, small_corpus, capsys):
    code = main(["evaluate", "--data", str(small_corpus), "--home", str(trained_home),
                 "--param", "heads.C=1"])
    assert code == 2 and "argument --param: only applies with --cv or --holdout" in \
        capsys.readouterr().err  # a usage error (issue 22)


def test_folds_in_processes_give_the_same_results(tmp_path, monkeypatch):
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", topic_records(40)),
                           label_fields=["labels"])

    def fresh(specs, jobs):
        return make_tagger(specs, {"min_df": 1}, None, jobs)

    one = cross_validate(dataset, fresh, folds=2, progress=False, n_jobs=1)
    monkeypatch.setattr(evaluate, "PARALLEL_FOLDS_MIN_RECORDS", 10)
    two = cross_validate(dataset, fresh, folds=2, progress=False, n_jobs=2)
    assert one["labels"].summary == two["labels"].summary
    assert one["labels"].per_label == two["labels"].per_label


@pytest.mark.parametrize("parallel", [False, True])
def test_the_final_fit_in_the_fold_pool_is_the_model_fitted_alone(tmp_path, monkeypatch, parallel):
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", topic_records(40)),
                           label_fields=["labels"])

    def fresh(specs, jobs):
        return make_tagger(specs, {"min_df": 1}, None, jobs)

    if parallel:
        monkeypatch.setattr(evaluate, "PARALLEL_FOLDS_MIN_RECORDS", 10)
    results, final = cross_validate(dataset, fresh, folds=2, progress=False,
                                    n_jobs=2 if parallel else 1, fit_all=True)
    assert results == cross_validate(dataset, fresh, folds=2, progress=False, n_jobs=1)
    alone = fresh(dataset.specs, 1).fit(dataset.texts, dataset.targets)
    X = alone.features.transform(dataset.texts)
    np.testing.assert_allclose(final.heads["labels"].predict_proba(final.features.transform(
        dataset.texts)), alone.heads["labels"].predict_proba(X), rtol=1e-6)
