"""Answers about text that is not English say so: a flag and a warning beside the labels."""

import json

import pyarrow.parquet as pq
import pytest

from service.bulk import PARTIAL_ERRORS, tag_partition
from tests.conftest import write_jsonl
from tests.model.test_language import GERMAN, WIRE
from training.cli import main

TITLE = "Voltaris übernimmt Kellmann"


def flagged(answer):
    return answer.get("not_english") is True and "does not look like English" in answer["warnings"][0]


def test_tag_flags_a_german_article_and_not_an_english_one(client):
    german = client.post("/v1/tag", json={"title": TITLE, "text": GERMAN}).get_json()
    assert flagged(german) and german["agreement_type"]["label"]  # still answered
    english = client.post("/v1/tag", json={"text": WIRE}).get_json()
    assert "not_english" not in english and "warnings" not in english
    headline = client.post("/v1/tag", json={"title": TITLE}).get_json()
    assert "not_english" not in headline  # too short to say


def test_a_batch_flags_only_its_german_items(client):
    r = client.post("/v1/tag/batch", json={"items": [
        {"id": "en", "text": WIRE}, {"id": "de", "title": TITLE, "text": GERMAN},
        {"id": "short", "text": "Voltaris buys Kellmann stake"}]})
    assert r.status_code == 200
    results = {item["id"]: item for item in r.get_json()["results"]}
    assert flagged(results["de"])
    assert not any("not_english" in results[i] for i in ("en", "short"))


def test_adding_a_german_document_stores_it_and_warns(client):
    r = client.post("/v1/documents", json={"id": "de-1", "title": TITLE, "text": GERMAN})
    assert r.status_code == 201 and flagged(r.get_json())
    assert client.get("/v1/documents/de-1").status_code == 200
    r = client.post("/v1/documents", json={"id": "en-1", "text": WIRE})
    assert r.status_code == 201 and "not_english" not in r.get_json()


def test_the_openapi_document_says_when_the_flag_comes(client):
    spec = client.get("/openapi.json").get_json()
    for path, method in (("/v1/tag", "post"), ("/v1/tag/batch", "post"), ("/v1/documents", "post")):
        answer = next(iter(spec["paths"][path][method]["responses"].values()))["description"]
        assert "not_english and warnings" in answer


def test_the_cli_flags_a_german_article(trained_home, tmp_path, capsys):
    article = tmp_path / "de.json"
    article.write_text(json.dumps({"title": TITLE, "text": GERMAN}), encoding="utf-8")
    assert main(["tag", "--home", str(trained_home), str(article)]) == 0
    assert flagged(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_bulk_tagging_flags_german_records(trained_home, tmp_path, fmt):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "de", "text": GERMAN},
                                                  {"id": "en", "text": WIRE}])
    version = (trained_home / "current").resolve().name
    out = tmp_path / f"out.{fmt}"
    (tmp_path / PARTIAL_ERRORS).mkdir()  # as bulk_tag makes it before handing out partitions
    part = tag_partition(str(source), str(out), str(trained_home), version, fmt)
    assert part["articles"] == 2 and not part["failed"]
    if fmt == "jsonl":
        rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
        assert flagged(rows["de"]) and "not_english" not in rows["en"]
    else:
        rows = {r["id"]: r for r in pq.read_table(out).to_pylist()}
        assert flagged(rows["de"]) and rows["en"]["not_english"] is None
