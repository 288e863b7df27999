"""`tagsim tune`, `--params FILE`, `--jobs`, and the defaults that follow the number of labels."""

import json

import pytest

from model.tagger import HeadSpec
from tests.conftest import write_jsonl
from training import tune as tuning
from training.cli import main
from training.datasets import DEFAULT_HEADS, load_dataset
from training.train import (
    FEATURE_PARAMS,
    HEAD_PARAMS,
    MANY_LABELS,
    default_params,
    make_tagger,
    read_params_file,
)

WORDS = {"alpha": "solar wind turbine grid", "beta": "bank loan credit payment",
         "gamma": "vaccine trial clinic patient"}


def topic_records(n):
    names = list(WORDS)
    out = []
    for i in range(n):
        labels = [names[i % 3]] + ([names[(i + 1) % 3]] if i % 4 == 0 else [])
        text = " ".join(WORDS[label] for label in labels) + f" story number {i} filler words"
        out.append({"id": f"d{i}", "title": f"title {i}", "text": text, "labels": labels})
    return out


def test_domain_heads_keep_the_domain_defaults():
    params = default_params(DEFAULT_HEADS)
    assert params["features"] == FEATURE_PARAMS and params["heads"] == HEAD_PARAMS


def test_many_labels_get_unigrams_without_nb_scaling():
    many = [HeadSpec("topics", True, tuple(f"t{i}" for i in range(MANY_LABELS)))]
    params = default_params(many)
    assert params["features"]["word_ngrams"] == (1, 1)
    assert params["heads"]["nb_power"] == 0 and params["heads"]["C"] == 1.0
    tagger = make_tagger(many, head_params={"C": 3.0})
    assert tagger.features.word_ngrams == (1, 1) and tagger.head_params["C"] == 3.0
    fewer = [HeadSpec("topics", True, tuple(f"t{i}" for i in range(MANY_LABELS - 1)))]
    assert default_params(fewer)["features"]["word_ngrams"] == (1, 2)


@pytest.mark.parametrize("content, message", [
    ("not json", "not a JSON settings file"),
    ('{"features": {}}', "with a 'parameters' object"),
    ('{"parameters": {"model": {}}}', "field 'parameters.model': unknown group"),
    ('{"parameters": {"heads": {"c": 1}}}', "field 'parameters.heads.c': unknown setting"),
])
def test_bad_params_files_are_refused(tmp_path, capsys, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    data = write_jsonl(tmp_path / "d.jsonl", topic_records(12))
    code = main(["train", "--data", str(data), "--label-field", "labels",
                 "--home", str(tmp_path / "h"), "--params", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"tagsim train: error: {path}") and message in err


@pytest.mark.parametrize("argv", [["--jobs", "0"], ["--jobs", "x"], ["--budget", "soon"],
                                  ["--budget", "-5m"]])
def test_bad_jobs_and_budget_are_usage_errors(tmp_path, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--data", str(tmp_path / "d.jsonl"), *argv])
    assert exc.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_tune_writes_the_best_settings_that_train_accepts(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", topic_records(48))
    out = tmp_path / "best.json"
    code = main(["tune", "--data", str(data), "--label-field", "labels", "--cv", "2",
                 "--budget", "5m", "--trials", "3", "--out", str(out), "--jobs", "1"])
    printed, err = capsys.readouterr()
    assert code == 0
    progress = [line for line in err.splitlines() if line.startswith("trial ")]
    assert len(progress) == 3 and all("elapsed" in line for line in progress)
    # The first trial is the defaults for the data.
    assert progress[0].startswith("trial 1: word_ngrams=1,2 min_df=2 C=2 nb_power=0.75")
    assert printed.count("\n| ") == 3 and "**best**" in printed
    saved = json.loads(out.read_text())
    assert set(saved["parameters"]) == {"features", "heads"}
    assert saved["tuned"]["records"] == 48 and saved["tuned"]["cv"] == 2
    assert saved["tuned"]["score"] == max(
        float(row.split("|")[3].split()[0]) for row in printed.splitlines()
        if row.startswith("| ") and row.split("|")[3].strip() not in ("score", "–"))

    home = tmp_path / "home"
    assert main(["train", "--data", str(data), "--label-field", "labels", "--home", str(home),
                 "--folds", "0", "--quiet", "--params", str(out), "--param", "heads.C=0.5"]) == 0
    version = capsys.readouterr().out.strip()
    manifest = json.loads((home / "versions" / version / "manifest.json").read_text())
    origin = manifest["parameters_origin"]
    assert origin["defaults"] == "domain"
    assert origin["file"]["path"] == str(out) and origin["file"]["tuned"] == saved["tuned"]
    assert origin["param"] == {"heads": {"C": 0.5}}
    assert manifest["parameters"]["heads"]["C"] == 0.5
    assert manifest["parameters"]["features"]["min_df"] == saved["parameters"]["features"]["min_df"]


def test_ctrl_c_keeps_the_best_settings_so_far(tmp_path, monkeypatch):
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", topic_records(40)),
                           label_fields=["labels"])
    real, calls = tuning.fit_and_predict, []

    def interrupted_in_the_second_trial(*args):
        calls.append(1)
        if len(calls) > 2:  # 2 folds a trial
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(tuning, "fit_and_predict", interrupted_in_the_second_trial)
    out = tmp_path / "best.json"
    lines = []
    result = tuning.tune(dataset, out, budget=300, folds=2, n_jobs=1, log=lines.append)
    assert result["interrupted"] and [r["state"] for r in result["trials"]] == ["complete"]
    params, tuned = read_params_file(out)
    assert tuned["trial"] == 1 and params["heads"]["C"] == 2.0
    assert any(line.startswith("interrupted") for line in lines)


@pytest.mark.parametrize("budget", ["59s", "0.5m", "1"])
def test_a_budget_below_the_smallest_useful_one_is_a_usage_error(tmp_path, budget, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--data", str(tmp_path / "d.jsonl"), "--budget", budget])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "argument --budget: give at least 1m, time for the defaults and a few other trials" in err


def test_a_budget_too_short_for_one_trial_says_what_would_do(tmp_path, monkeypatch):
    import time

    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", topic_records(30)),
                           label_fields=["labels"])
    fit = tuning.fit_and_predict

    def slow_fit(*args):  # each fold outlasts the whole budget
        time.sleep(0.5)
        return fit(*args)

    monkeypatch.setattr(tuning, "fit_and_predict", slow_fit)
    lines = []
    with pytest.raises(tuning.TagsimError) as exc:
        tuning.tune(dataset, tmp_path / "p.json", budget=0.3, folds=2, n_jobs=1, log=lines.append)
    # The budget ran out after the first fold (checked before each): the trial was stopped,
    # not pruned, and its fold's time says what budget would let trials finish.
    assert lines[-1].startswith("trial 1: ") and "| stopped: budget spent after 1 of 2 folds |" in lines[-1]
    message = str(exc.value)
    assert message.startswith("no trial finished within the budget; one trial of 2 folds takes about ")
    assert "give --budget 1m or more (three trials), or fewer --cv folds" in message
    assert not (tmp_path / "p.json").exists()


def test_ctrl_c_before_any_trial_writes_nothing(tmp_path, monkeypatch):
    dataset = load_dataset(write_jsonl(tmp_path / "d.jsonl", topic_records(20)),
                           label_fields=["labels"])

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "fit_and_predict", interrupted)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        tuning.tune(dataset, tmp_path / "best.json", budget=60, folds=2, log=lines.append)
    assert not (tmp_path / "best.json").exists()
    assert lines[-1] == "interrupted before the first trial finished: nothing written"
