"""The operating point per request: `threshold` and `limit` on /v1/tag, /v1/tag/batch, tagsim tag."""

import json

import pytest

from tests.service.test_api import error_of
from training.cli import main

TEXT = ("The finance ministry and a solar developer signed a memorandum on rooftop panels "
        "financed by a state bank, with software to track output.")


def sectors_of(answer):
    return [s["label"] for s in answer["sectors"]]


def test_threshold_number_applies_to_every_sector(client):
    answer = client.post("/v1/tag", json={"text": TEXT}).get_json()
    scores = answer["sector_scores"]
    low = client.post("/v1/tag", json={"text": TEXT, "threshold": 0.0}).get_json()
    assert sorted(sectors_of(low)) == sorted(scores)
    high = client.post("/v1/tag", json={"text": TEXT, "threshold": 1.0}).get_json()
    assert sectors_of(high) == [label for label, p in scores.items() if p >= 1.0]
    # Between two scores, not at one: the answer's scores are rounded to 6 decimals, so a
    # probability just under its rounded score would miss a cut placed exactly on it.
    ranked = sorted(scores.values())
    assert ranked[2] - ranked[1] > 1e-5
    cut = (ranked[1] + ranked[2]) / 2
    mid = client.post("/v1/tag", json={"text": TEXT, "threshold": cut}).get_json()
    assert set(sectors_of(mid)) == {label for label, p in scores.items() if p >= cut}
    assert low["agreement_type"] == answer["agreement_type"]  # single-label heads unchanged


def test_threshold_per_label_keeps_the_others_tuned(client, app):
    answer = client.post("/v1/tag", json={"text": TEXT}).get_json()
    chosen = set(sectors_of(answer))
    missing = next(label for label in answer["sector_scores"] if label not in chosen)
    forced = client.post("/v1/tag", json={"text": TEXT, "threshold": {missing: 0.0}}).get_json()
    assert set(sectors_of(forced)) == chosen | {missing}


def test_limit_keeps_the_most_probable(client):
    scores = client.post("/v1/tag", json={"text": TEXT}).get_json()["sector_scores"]
    best = sorted(scores, key=scores.get, reverse=True)[:2]
    two = client.post("/v1/tag", json={"text": TEXT, "threshold": 0.0, "limit": 2}).get_json()
    assert sectors_of(two) == best


def test_batch_takes_the_same_options(client):
    body = {"items": [{"text": TEXT}, {"text": "bank loan for a wind farm"}], "threshold": 0.0,
            "limit": 1}
    results = client.post("/v1/tag/batch", json=body).get_json()["results"]
    assert [len(r["sectors"]) for r in results] == [1, 1]


@pytest.mark.parametrize("extra, field", [
    ({"threshold": 1.5}, "threshold"), ({"threshold": -0.1}, "threshold"),
    ({"threshold": "high"}, "threshold"), ({"threshold": True}, "threshold"),
    ({"threshold": {"biomed": 2}}, "threshold"), ({"threshold": {"banking": 0.5}}, "threshold"),
    ({"limit": 0}, "limit"), ({"limit": 1.5}, "limit"), ({"limit": "2"}, "limit"),
])
def test_bad_operating_points_are_400_naming_the_field(client, extra, field):
    for path, body in (("/v1/tag", {"text": TEXT, **extra}),
                       ("/v1/tag/batch", {"items": [{"text": TEXT}], **extra})):
        r = client.post(path, json=body)
        error_of(r, 400, "invalid_input")
        assert field in r.get_json()["error"]["message"]


def test_unknown_label_is_named(client):
    r = client.post("/v1/tag", json={"text": TEXT, "threshold": {"banking": 0.5}})
    assert "'banking'" in r.get_json()["error"]["message"]


def test_cli_tag_threshold_and_limit(trained_home, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text(TEXT, encoding="utf-8")
    assert main(["tag", "--home", str(trained_home), "--threshold", "0", "--limit", "3",
                 str(article)]) == 0
    answer = json.loads(capsys.readouterr().out)
    scores = answer["sector_scores"]
    assert sectors_of(answer) == sorted(scores, key=scores.get, reverse=True)[:3]
    assert main(["tag", "--home", str(trained_home), "--threshold", "biomed=0,policy=1",
                 str(article)]) == 0
    assert "biomed" in sectors_of(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("args, code, words", [
    (["--threshold", "high"], 2, "--threshold"),
    (["--threshold", "biomed=x"], 2, "--threshold"),
    # Every bad option value is a usage error (issue 22), checked against the model too.
    (["--threshold", "banking=0.3"], 2, "argument --threshold: names an unknown label 'banking'"),
    (["--threshold", "1.2"], 2, "argument --threshold: expected probabilities between 0 and 1"),
    (["--limit", "0"], 2, "argument --limit"),
])
def test_cli_tag_bad_operating_point_is_one_line(trained_home, tmp_path, capsys, args, code, words):
    article = tmp_path / "a.txt"
    article.write_text(TEXT, encoding="utf-8")
    try:
        got = main(["tag", "--home", str(trained_home), *args, str(article)])
    except SystemExit as exc:
        got = exc.code
    err = capsys.readouterr().err.strip()
    assert got == code
    assert words in err.splitlines()[-1] and "Traceback" not in err
