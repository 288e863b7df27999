"""Corrections with their history, the review queue, and training on corrections."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.documents import open_documents
from model.loaded import load_verified
from model.review import uncertainty
from service import create_app
from service.settings import Settings
from training.train import train

ARTICLE = {"id": "a1", "title": "Bank and solar firm", "text": "A bank lends to a solar farm "
           "developer and takes a stake in the project company."}


@pytest.fixture
def added(client):
    assert client.post("/v1/documents", json=ARTICLE).status_code == 201
    return ARTICLE["id"]


def test_a_correction_is_kept_with_its_history_and_wins(client, added):
    first = client.patch(f"/v1/documents/{added}", json={"agreement_type": "licensing",
                                                         "reviewer": "ann", "note": "a licence"})
    assert first.status_code == 200 and first.get_json()["agreement_type"] == "licensing"
    client.patch(f"/v1/documents/{added}", json={"agreement_type": "investment",
                                                 "sectors": ["fintech", "clean_energy"]})
    doc = client.get(f"/v1/documents/{added}").get_json()
    assert doc["agreement_type"] == "investment" and doc["sectors"] == ["clean_energy", "fintech"]
    assert [h["labels"] for h in doc["history"]] == [
        {"agreement_type": "licensing"},
        {"agreement_type": "investment", "sectors": ["clean_energy", "fintech"]}]
    assert doc["history"][0]["reviewer"] == "ann" and doc["history"][0]["note"] == "a licence"
    status = doc["label_status"]["agreement_type"]
    assert status["status"] == "reviewed" and status["model_version"] == doc_version(client)


def doc_version(client):
    return client.get("/v1/model").get_json()["version"]


def test_a_corpus_document_can_be_corrected_and_filters_follow_at_once(client, corpus_docs):
    doc = next(d for d in corpus_docs if d["agreement_type"] != "licensing")
    query = {"id": doc["id"], "agreement_type": "licensing", "k": 100}
    assert client.patch(f"/v1/documents/{doc['id']}",
                        json={"agreement_type": "licensing"}).status_code == 200
    got = client.get(f"/v1/documents/{doc['id']}").get_json()
    assert got["source"] == "corpus" and got["agreement_type"] == "licensing"
    assert got["label_status"]["sectors"] == {"status": "corpus"}
    other = next(d for d in corpus_docs if d["id"] != doc["id"])
    results = client.post("/v1/similar", json={**query, "id": other["id"]}).get_json()["results"]
    assert doc["id"] in [r["id"] for r in results]


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"agreement_type": "merger"}, 400, "'merger'"),
    ({"sectors": ["biomed", "space"]}, 400, "'space'"),
    ({"sectors": "biomed"}, 400, "sectors"),
    ({}, 400, "at least one head"),
    ({"reviewer": "x"}, 400, "at least one head"),
    ({"agreement_type": "none", "colour": "red"}, 400, "colour"),
])
def test_bad_corrections_are_400_naming_the_problem(client, added, body, status, needle):
    res = client.patch(f"/v1/documents/{added}", json=body)
    assert res.status_code == status and needle in res.get_json()["error"]["message"]
    assert client.get(f"/v1/documents/{added}").get_json()["history"] == []


def test_unknown_document_is_404(client):
    res = client.patch("/v1/documents/nope", json={"agreement_type": "none"})
    assert res.status_code == 404 and res.get_json()["error"]["code"] == "not_found"


def test_corrections_need_the_write_token_when_set(home, added):
    client = create_app({"TESTING": True}, Settings(home=home, api_token="t0k")).test_client()
    assert client.patch(f"/v1/documents/{added}", json={"agreement_type": "none"}).status_code == 401
    assert client.patch(f"/v1/documents/{added}", json={"agreement_type": "none"},
                        headers={"Authorization": "Bearer t0k"}).status_code == 200
    assert client.get("/").status_code == 200  # the page itself asks for the token


def test_queue_is_least_certain_first_and_drops_reviewed(client, added, home):
    queue = client.get("/v1/review?head=sectors&limit=50").get_json()
    results = queue["results"]
    assert len(results) == 50 and queue["reviewed"] == 0
    model = load_verified(home)
    thresholds = model.tagger.heads["sectors"].thresholds_
    labels = model.tagger.labels_of(model.head("sectors"))
    got = [r["uncertainty"] for r in results]
    expected = [float(uncertainty(np.array([[r["scores"][k] for k in labels]]), thresholds)[0])
                for r in results]
    assert got == sorted(got) and got == pytest.approx(expected, abs=1e-5)
    # nothing outside the page is less certain than its last entry
    all_rows = uncertainty(model.scores["sectors"], thresholds)
    assert np.sum(all_rows < got[-1] - 1e-6) <= len(results)
    first = results[0]["id"]
    client.patch(f"/v1/documents/{first}", json={"sectors": ["policy"]})
    after = client.get("/v1/review?head=sectors&limit=50").get_json()
    assert first not in [r["id"] for r in after["results"]] and after["reviewed"] == 1
    assert after["unreviewed"] == queue["unreviewed"] - 1
    single = client.get("/v1/review?head=agreement_type&limit=5").get_json()["results"]
    margins = [sorted(r["scores"].values())[-1] - sorted(r["scores"].values())[-2] for r in single]
    assert [r["uncertainty"] for r in single] == pytest.approx(margins, abs=1e-5)
    # An added document joins the queue with the scores it got when it was added; a terse
    # one is less certain than the corpus rows, whose stored scores are in-sample.
    assert client.post("/v1/documents", json={"id": "terse", "text": "Wind farm loan."}).status_code == 201
    mine = [r for r in client.get("/v1/review?head=agreement_type&limit=500").get_json()["results"]
            if r["id"] == "terse"]
    assert mine and mine[0]["source"] == "api" and mine[0]["scored_by"] == doc_version(client)


@pytest.mark.parametrize("query", ["head=colour", "head=sectors&limit=0", "limit=abc",
                                   "head=sectors&limit=501"])
def test_bad_queue_requests_are_400(client, query):
    assert client.get(f"/v1/review?{query}").status_code == 400


def test_training_uses_corrections_and_counts_them(home, small_corpus, corpus_docs):
    store = open_documents(home)
    doc = corpus_docs[0]
    new = "licensing" if doc["agreement_type"] != "licensing" else "investment"
    store.correct([{"id": doc["id"], "labels": {"agreement_type": new}, "reviewer": "ann"},
                   {"id": corpus_docs[1]["id"], "labels": {"sectors": ["biomed"]}}])
    manifest = train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)
    assert manifest["corrections"]["per_head"] == {"agreement_type": 1, "sectors": 1}
    assert manifest["corrections"]["per_reviewer"] == {"ann": 1, "(anonymous)": 1}
    lines = (home / "current" / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    trained = {d["id"]: d for d in map(json.loads, lines)}
    assert trained[doc["id"]]["agreement_type"] == new
    assert trained[corpus_docs[1]["id"]]["sectors"] == ["biomed"]


def test_a_correction_made_during_training_waits_for_the_next_run(home, small_corpus, corpus_docs):
    store = open_documents(home)
    logs = []

    def log(message):  # runs inside train, after the corrections were read
        if message.startswith("read "):
            store.correct([{"id": corpus_docs[2]["id"], "labels": {"agreement_type": "none"}}])
        logs.append(message)

    first = train(small_corpus, home, folds=0, progress=False, log=log)
    assert first["corrections"]["documents"] == 0
    second = train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)
    assert second["corrections"]["documents"] == 1
    assert len(store.history(corpus_docs[2]["id"])) == 1


def test_a_reindexed_version_stores_the_scores_of_its_new_corpus(home, tmp_path, corpus_records):
    from tests.conftest import write_jsonl
    from training.index import reindex

    data = write_jsonl(tmp_path / "fresh.jsonl", [
        {"id": f"n{i}", "title": r["title"], "text": r["text"]} for i, r in
        enumerate(corpus_records[1:40:2])])
    reindex(data, home, log=lambda *_: None)
    client = create_app({"TESTING": True}, Settings(home=home)).test_client()
    queue = client.get("/v1/review?head=agreement_type&limit=5").get_json()
    assert queue["unreviewed"] == 20 and len(queue["results"]) == 5
    assert all(r["id"].startswith("n") and r["scored_by"] == queue["model_version"]
               for r in queue["results"])


class _Counting:
    """A database connection that records each statement the store runs through it."""

    def __init__(self, db, statements):
        self.db, self.statements = db, statements

    def execute(self, sql, params=()):
        self.statements.append(sql)
        return self.db.execute(sql, params)


def counted_statements(store, monkeypatch):
    """The list every statement *store* runs from now on is appended to."""
    from contextlib import contextmanager

    statements, transaction = [], store.dialect.transaction

    @contextmanager
    def counting(*args, **kwargs):
        with transaction(*args, **kwargs) as db:
            yield _Counting(db, statements)

    monkeypatch.setattr(store.dialect, "transaction", counting)
    return statements


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_review_queue_makes_one_query_however_many_documents_were_added(
        request, home, monkeypatch, store):
    url = request.getfixturevalue("postgres_db").url if store == "postgres" else None
    app = create_app({"TESTING": True}, Settings(home=home, database_url=url, reload_seconds=0))
    client = app.test_client()
    for i in range(60):
        assert client.post("/v1/documents", json={"id": f"added-{i}", "text": f"Bank {i} lends "
                                                  "to a solar farm developer."}).status_code == 201
    statements = counted_statements(app.extensions["tagsim"].documents, monkeypatch)
    for _ in range(5):
        before = len(statements)
        r = client.get("/v1/review?head=sectors&limit=100")
        assert r.status_code == 200 and len(r.get_json()["results"]) == 100
        assert len(statements) - before <= 1, statements[before:]
        before = len(statements)
        r = client.get("/v1/review?head=agreement_type&limit=100&text=1")  # the texts: one more
        added = [e for e in r.get_json()["results"] if e["source"] == "api"]
        assert added and all(e["text"].startswith("Bank ") for e in added)
        assert len(statements) - before <= 2, statements[before:]


@pytest.mark.parametrize(("given", "origin"), [
    ({"agreement_type": "investment"}, {"agreement_type": "given", "sectors": "predicted"}),
    ({"sectors": ["policy"]}, {"agreement_type": "predicted", "sectors": "given"}),
    ({"sectors": [], "agreement_type": "none"}, {"agreement_type": "given", "sectors": "given"}),
    ({}, {"agreement_type": "predicted", "sectors": "predicted"}),
])
def test_each_head_says_whether_its_label_was_given_or_predicted(client, given, origin):
    assert client.post("/v1/documents", json={"id": "d", "text": "A bank lends to a solar farm.",
                                              **given}).status_code == 201
    doc = client.get("/v1/documents/d").get_json()
    assert {h: s["status"] for h, s in doc["label_status"].items()} == origin
    assert all(doc[h] == v for h, v in given.items())


def test_a_document_stored_before_heads_kept_their_origin_reads_as_before(home):
    store = open_documents(home)
    store.put("old-given", "", "A bank lends to a solar farm.", {"sectors": ["fintech"],
              "agreement_type": "investment"}, True)
    store.put("old-guess", "", "A bank lends to a solar farm.", {"sectors": ["fintech"],
              "agreement_type": "investment"}, False)
    store.close()
    client = create_app({"TESTING": True}, Settings(home=home)).test_client()
    for doc_id, status in (("old-given", "given"), ("old-guess", "predicted")):
        states = client.get(f"/v1/documents/{doc_id}").get_json()["label_status"]
        assert {s["status"] for s in states.values()} == {status}
