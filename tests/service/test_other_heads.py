"""A model trained on other label fields is served whole: tag, similar, documents, OpenAPI."""

import pytest

from service import create_app
from service.settings import Settings
from tests.conftest import write_jsonl
from training.train import train

WORDS = {"energy": "solar wind turbine grid battery megawatt",
         "finance": "bank loan credit payment bond lender",
         "health": "hospital vaccine clinic patient drug trial"}
REGIONS = ["europe", "asia", "africa"]


def records():
    out = []
    for i in range(45):
        topic = list(WORDS)[i % 3]
        tags = [REGIONS[i % 3]] + ([REGIONS[(i + 1) % 3]] if i % 4 == 0 else [])
        out.append({"id": f"d{i}", "title": f"{topic} story {i}",
                    "text": f"{WORDS[topic]} {' '.join(tags)} report number {i}",
                    "topic": topic, "tags": tags})
    return out


@pytest.fixture(scope="module")
def topic_home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topic")
    home = folder / "home"
    train(write_jsonl(folder / "d.jsonl", records()), home, label_fields=["topic", "tags"],
          folds=0, progress=False, log=lambda *_: None, params={"features": {"min_df": 1}})
    return home


@pytest.fixture
def client(topic_home, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(topic_home, home, symlinks=True)
    return create_app({"TESTING": True}, Settings(home=home)).test_client()


def test_tag_answers_with_the_models_heads(client):
    r = client.post("/v1/tag", json={"text": "the bank signed a loan and a bond", "title": "Deal"})
    body = r.get_json()
    assert r.status_code == 200, body
    assert list(body) == ["model_version", "topic", "topic_scores", "tags", "tags_scores"]
    assert body["topic"]["label"] == "finance"
    assert set(body["topic_scores"]) == set(WORDS) and set(body["tags_scores"]) == set(REGIONS)
    assert sum(body["topic_scores"].values()) == pytest.approx(1.0, abs=1e-4)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'tagsim_predictions_total{head="topic",label="finance"}' in metrics


def test_similar_filters_on_the_models_heads(client):
    for field, value in (("topic", "health"), ("tags", "asia")):
        r = client.post("/v1/similar", json={"text": "solar grid bank hospital", "k": 50,
                                             field: value})
        results = r.get_json()["results"]
        assert r.status_code == 200 and results
        for x in results:
            assert set(x) == {"id", "title", "score", "topic", "tags", "shared_terms"}
            assert value in (x["tags"] if field == "tags" else [x["topic"]])
    for body in ({"text": "bank", "topic": "sport"}, {"text": "bank", "sector": "fintech"}):
        r = client.post("/v1/similar", json=body)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_input"


def test_documents_take_and_predict_the_models_labels(client):
    r = client.post("/v1/documents", json={"id": "n1", "text": "a vaccine trial at the clinic",
                                           "topic": "health"})
    doc = r.get_json()
    assert r.status_code == 201, doc
    assert doc["topic"] == "health" and doc["predicted"] == ["tags"]
    assert set(doc["tags"]) <= set(REGIONS)
    got = client.get("/v1/documents/n1").get_json()
    assert got["topic"] == "health" and got["labelled"] is False and "sectors" not in got
    r = client.post("/v1/documents", json={"id": "n2", "text": "wind farm", "topic": "energy",
                                           "tags": ["europe", "asia", "europe"]})
    assert r.get_json()["predicted"] == [] and r.get_json()["tags"] == ["asia", "europe"]
    assert client.get("/v1/documents/n2").get_json()["labelled"] is True
    top = client.post("/v1/similar", json={"text": "wind farm", "k": 1, "topic": "energy"})
    assert top.get_json()["results"][0]["id"] == "n2"
    corpus = client.get("/v1/documents/d0").get_json()
    assert corpus["topic"] == "energy" and corpus["tags"] == ["europe", "asia"]
    for body in ({"text": "x", "topic": "sport"}, {"text": "x", "tags": "asia"},
                 {"text": "x", "sectors": ["fintech"]}):
        r = client.post("/v1/documents", json=body)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_input"


def test_openapi_names_the_models_heads_and_labels(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    similar, document = schemas["SimilarRequest"]["properties"], schemas["DocumentIn"]["properties"]
    assert {"topic", "tags"} <= set(similar) and "sector" not in similar
    assert similar["topic"]["anyOf"][0]["enum"] == sorted(WORDS)
    assert document["tags"]["anyOf"][0] == {"type": "array", "items": {
        "type": "string", "enum": sorted(REGIONS)}}
    assert "sectors" not in document and "agreement_type" not in document


def test_an_index_keeps_valid_labels_and_predicts_the_rest(topic_home, tmp_path):
    import json
    import shutil

    from training.index import reindex

    home = tmp_path / "home"
    shutil.copytree(topic_home, home, symlinks=True)
    data = write_jsonl(tmp_path / "new.jsonl", [
        {"id": "k1", "text": "bank loan credit", "topic": "health", "tags": ["africa"]},
        {"id": "k2", "text": "bank loan credit", "topic": "sport", "tags": "africa"}])
    reindex(data, home, log=lambda *_: None)
    lines = (home / "current" / "documents.jsonl").read_text().splitlines()
    docs = {d["id"]: d for d in map(json.loads, lines)}
    # The texts are kept, as training keeps the corpus' (the review page shows them).
    assert docs["k1"] == {"id": "k1", "title": "", "text": "bank loan credit", "topic": "health",
                          "tags": ["africa"]}
    assert docs["k2"]["topic"] == "finance" and isinstance(docs["k2"]["tags"], list)
    client = create_app({"TESTING": True}, Settings(home=home)).test_client()
    results = client.post("/v1/similar", json={"text": "bank loan", "topic": "health"}).get_json()
    assert [x["id"] for x in results["results"]] == ["k1"]
