"""The knobs that let one pipeline serve several corpora: --param, --holdout, --allow-empty."""

import json
import re

import pytest

from model.errors import InvalidInput
from tests.conftest import write_jsonl
from training.cli import main
from training.datasets import load_dataset
from training.train import parse_params


@pytest.mark.parametrize("items, expected", [
    ([], {"features": {}, "heads": {}}),
    (["heads.C=1.0", "features.word_ngrams=1,1"],
     {"features": {"word_ngrams": (1, 1)}, "heads": {"C": 1.0}}),
    (["heads.class_weight=null", "heads.nb_power=0"],
     {"features": {}, "heads": {"class_weight": None, "nb_power": 0}}),
    (["heads.class_weight=balanced"], {"features": {}, "heads": {"class_weight": "balanced"}}),
])
def test_params_are_parsed(items, expected):
    assert parse_params(items) == expected


@pytest.mark.parametrize("n_labels", [5, 40])
def test_a_trial_of_the_defaults_gives_back_the_defaults(n_labels):
    from model.tagger import HeadSpec
    from training.train import default_params
    from training.tune import as_trial_values, trial_params

    defaults = default_params([HeadSpec("y", True, tuple(f"l{i}" for i in range(n_labels)))])
    tuned = trial_params(as_trial_values(defaults))
    for group, values in tuned.items():
        assert values == {name: defaults[group][name] for name in values}


def test_balance_outside_zero_to_one_is_refused():
    with pytest.raises(InvalidInput, match="'balance' parameter"):
        parse_params(["heads.balance=1.5"])


@pytest.mark.parametrize("item", ["heads.c=1", "C=1", "heads.C", "heads.multilabel=true",
                                  "model.C=1"])
def test_unknown_or_malformed_params_are_refused(item):
    with pytest.raises(InvalidInput, match="GROUP.NAME=VALUE"):
        parse_params([item])


@pytest.mark.parametrize("item, message", [
    ("heads.C=abc", "'C' parameter of CalibratedLinearHead must be a float"),
    ("heads.C=-1", "'C' parameter of CalibratedLinearHead must be a float in the range"),
    ("heads.cv=1", "'cv' parameter of CalibratedLinearHead must be an int"),
    ("heads.threshold_range=0.9,0.1", "0 <= LOW < HIGH <= 1"),
    ("features.word_ngrams=abc", "'word_ngrams' parameter of TextFeatures"),
    ("features.word_ngrams=3,1", "1 <= LOW <= HIGH"),
    ("features.min_df=0.5.1", "'min_df' parameter of TextFeatures must be an int"),
    ("training.view_words=0", "view_words takes whole numbers"),
])
def test_param_values_are_checked_before_any_work(item, message):
    with pytest.raises(InvalidInput, match=re.escape(f"--param {item}: ") + ".*" + re.escape(message)):
        parse_params([item])


def records(n, empty=()):
    labels = ["alpha", "beta"]
    words = {"alpha": "solar wind turbine grid", "beta": "bank loan credit payment"}
    return [{"id": f"d{i}", "title": "", "text": "" if i in empty else
             f"{words[labels[i % 2]]} story {i}", "label": labels[i % 2]} for i in range(n)]


def test_empty_bodies_need_allow_empty(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", records(6, empty={3}))
    with pytest.raises(InvalidInput, match="line 4, field 'text': no text, nor in 'title'.*--allow-empty"):
        load_dataset(path, label_fields=["label"])
    ds = load_dataset(path, label_fields=["label"], allow_empty=True)
    assert ds.texts[3] == "" and len(ds) == 6


def test_evaluate_holdout_and_cv_with_params(tmp_path, capsys):
    path = write_jsonl(tmp_path / "d.jsonl", records(40, empty={7}))
    common = ["evaluate", "--data", str(path), "--label-field", "label", "--allow-empty",
              "--json", "--param", "heads.C=1.0", "--param", "features.min_df=1"]
    assert main([*common, "--holdout", "0.25", "--seed", "1"]) == 0
    held = json.loads(capsys.readouterr().out)["label"]
    assert held["n"] == 10 and held["accuracy"] >= 0.9
    assert main([*common, "--cv", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["label"]["n"] == 40


def test_train_records_the_parameters_it_used(tmp_path, capsys):
    path = write_jsonl(tmp_path / "d.jsonl", records(30))
    home = tmp_path / "home"
    assert main(["train", "--data", str(path), "--label-field", "label", "--home", str(home),
                 "--folds", "0", "--quiet", "--param", "heads.C=3"]) == 0
    version = capsys.readouterr().out.strip()
    manifest = json.loads((home / "versions" / version / "manifest.json").read_text())
    assert manifest["parameters"]["heads"]["C"] == 3


def test_a_settings_file_from_before_balance_keeps_full_balancing(tmp_path):
    from training.train import read_params_file

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"parameters": {"heads": {"C": 0.7, "class_weight": "balanced"}}}))
    params, _ = read_params_file(path)
    assert params["heads"] == {"C": 0.7, "class_weight": "balanced", "balance": 1.0}
    path.write_text(json.dumps({"parameters": {"heads": {"class_weight": "balanced",
                                                         "balance": 0.6}}}))
    assert read_params_file(path)[0]["heads"]["balance"] == 0.6
