"""API replicas sharing one document store: SQLite on one machine, PostgreSQL beyond it."""

import threading
import time

import pytest

from model.documents import open_documents
from service import create_app
from service.client import ApiError
from service.settings import Settings
from tests.service.live import Server
from training.train import train


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    """'' for the home's SQLite file, else the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("postgres_db").url


def replica(home, database_url, **settings):
    return create_app({"TESTING": True}, Settings(home=home, database_url=database_url or None,
                                                  **settings)).test_client()


def test_replicas_see_each_others_writes_before_their_next_answer(home, database_url):
    one, two = replica(home, database_url), replica(home, database_url)
    r = one.post("/v1/documents", json={"id": "shared-1", "title": "Harbour cranes",
                                        "text": "Port authority signs harbour crane venture."})
    assert r.status_code == 201
    hits = two.post("/v1/similar", json={"text": "harbour crane venture", "k": 3}).get_json()
    assert hits["results"][0]["id"] == "shared-1"
    assert two.get("/v1/documents/shared-1").get_json()["text"].startswith("Port authority")
    assert two.delete("/v1/documents/shared-1").status_code == 204
    assert one.get("/v1/documents/shared-1").status_code == 404
    hits = one.post("/v1/similar", json={"text": "harbour crane venture", "k": 3}).get_json()
    assert "shared-1" not in [h["id"] for h in hits["results"]]


def test_replicas_share_corrections_and_the_queue(home, database_url, corpus_docs):
    one, two = replica(home, database_url), replica(home, database_url)
    assert one.post("/v1/documents", json={"id": "shared-2", "text": "A bank lends to a "
                                           "wind farm developer."}).status_code == 201
    # Terse enough for the model to be unsure of its agreement type: the queue's 500 least
    # certain include it (the corpus rows' stored scores are in-sample, hence confident).
    assert one.post("/v1/documents", json={"id": "shared-3",
                                           "text": "Wind farm loan."}).status_code == 201
    queued = two.get("/v1/review?head=agreement_type&limit=500").get_json()["results"]
    assert "shared-3" in [r["id"] for r in queued]  # scored when added, through replica one
    corpus_id = corpus_docs[0]["id"]
    for doc_id in ("shared-2", corpus_id):
        assert one.patch(f"/v1/documents/{doc_id}", json={"agreement_type": "licensing",
                                                         "reviewer": "ann"}).status_code == 200
    for doc_id in ("shared-2", corpus_id):
        doc = two.get(f"/v1/documents/{doc_id}").get_json()
        assert doc["agreement_type"] == "licensing" and doc["history"][0]["reviewer"] == "ann"
    hits = two.post("/v1/similar", json={"id": "shared-2", "agreement_type": "licensing",
                                         "k": 100}).get_json()["results"]
    assert corpus_id in [h["id"] for h in hits]
    queued = two.get("/v1/review?head=agreement_type&limit=500").get_json()
    assert queued["reviewed"] == 2
    assert not {"shared-2", corpus_id} & {r["id"] for r in queued["results"]}


def test_a_database_that_goes_down_is_503_and_the_service_recovers(home, postgres_db):
    client = replica(home, postgres_db.url, database_timeout=1)
    assert client.post("/v1/documents", json={"id": "before", "text": "Wind farm loan."}).status_code == 201
    postgres_db.go_down()
    started = time.monotonic()
    for r in (client.get("/readyz"),
              client.post("/v1/documents", json={"id": "during", "text": "Solar loan."}),
              client.delete("/v1/documents/before")):
        assert r.status_code == 503
        assert r.get_json()["error"]["code"] == "database_unavailable"
        assert "unavailable" in r.get_json()["error"]["message"]
    assert time.monotonic() - started < 10
    assert client.post("/v1/tag", json={"text": "A bank bought a start-up."}).status_code == 200
    r = client.post("/v1/similar", json={"text": "wind farm loan"})  # from the last snapshot
    assert r.status_code == 200 and r.headers["Tagsim-Documents"] == "stale"
    assert r.get_json()["documents_stale"] is True
    assert "before" in [h["id"] for h in r.get_json()["results"]]
    postgres_db.come_back()
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/readyz").status_code == 200
    r = client.post("/v1/similar", json={"text": "wind farm loan"})
    assert "Tagsim-Documents" not in r.headers and "documents_stale" not in r.get_json()
    assert client.post("/v1/documents", json={"id": "after", "text": "Solar loan."}).status_code == 201
    assert client.get("/v1/documents/before").status_code == 200


def test_a_server_started_while_the_database_is_down_serves_once_it_is_back(home, postgres_db):
    postgres_db.go_down()
    client = replica(home, postgres_db.url, database_timeout=1)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "database_unavailable"
    assert postgres_db.name not in r.get_data(as_text=True)  # who and where: in the log only
    postgres_db.come_back()
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/readyz").status_code == 200


def test_two_servers_share_one_database_and_one_artifacts_folder(home, postgres_db, small_corpus):
    args = ["--database-url", postgres_db.url]
    one = Server(home, args, workers=1).start()
    two = Server(home, args, workers=1).start()
    try:
        one.client().add_document("Port authority signs harbour crane venture.", id="fleet-1")
        hits = two.client().similar(text="harbour crane venture", k=3)
        assert hits[0]["id"] == "fleet-1"
        two.client().delete_document("fleet-1")
        with pytest.raises(ApiError) as info:
            one.client().get_document("fleet-1")
        assert info.value.status == 404
        before = one.client()._call("GET", "/v1/model")["version"]
        version = train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)["version"]
        assert version != before
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            served = {s.client()._call("GET", "/v1/model")["version"] for s in (one, two)}
            if served == {version}:
                break
            time.sleep(0.3)
        assert served == {version}
    finally:
        one.stop()
        two.stop()


def test_what_postgresql_cannot_hold_is_a_400_not_a_500(home, postgres_db):
    client = replica(home, postgres_db.url)
    r = client.post("/v1/documents", json={"id": "nul", "text": "Wind farm\u0000 loan."})
    assert r.status_code == 400 and "NUL" in r.get_json()["error"]["message"]
    assert client.get("/v1/documents/nul\u0000").status_code == 404
    assert client.get("/readyz").status_code == 200


def test_clients_racing_to_add_one_id_get_one_201_and_the_rest_409(home, database_url):
    clients = [replica(home, database_url) for _ in range(4)] * 2  # 4 replicas, 2 threads each
    for n in range(30):
        doc_id, barrier, answers = f"race-{n}", threading.Barrier(8), {}

        def post(w, client, doc_id=doc_id, barrier=barrier, answers=answers):
            barrier.wait()
            answers[w] = client.post("/v1/documents", json={
                "id": doc_id, "title": f"writer {w}", "text": f"Writer {w} lends to a wind farm.",
                "sectors": ["clean_energy"], "agreement_type": "investment"})

        threads = [threading.Thread(target=post, args=(w, c)) for w, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in answers.values())
        assert statuses == [201] + [409] * 7, (n, statuses)
        [winner] = [w for w, r in answers.items() if r.status_code == 201]
        assert {r.get_json()["error"]["code"] for r in answers.values()
                if r.status_code == 409} == {"conflict"}
        for client in clients[:4]:
            doc = client.get(f"/v1/documents/{doc_id}").get_json()
            assert (doc["title"], doc["text"]) == (f"writer {winner}",
                                                   f"Writer {winner} lends to a wind farm.")


def test_a_deleted_documents_corrections_do_not_come_back(home, database_url, corpus_docs):
    one, two = replica(home, database_url), replica(home, database_url)
    body = {"id": "again-1", "text": "A bank lends to a wind farm developer.",
            "sectors": ["clean_energy"], "agreement_type": "investment"}
    assert one.post("/v1/documents", json=body).status_code == 201
    corpus_id = corpus_docs[0]["id"]
    for doc_id in ("again-1", corpus_id):
        assert one.patch(f"/v1/documents/{doc_id}", json={"agreement_type": "licensing",
                                                         "reviewer": "ann"}).status_code == 200
    assert two.get("/v1/review?head=agreement_type").get_json()["reviewed"] == 2
    assert one.delete("/v1/documents/again-1").status_code == 204
    assert two.get("/v1/review?head=agreement_type").get_json()["reviewed"] == 1
    assert one.post("/v1/documents", json=body | {"agreement_type": "joint_venture"}).status_code == 201
    for client in (one, two, replica(home, database_url)):  # a fresh replica reads it all anew
        doc = client.get("/v1/documents/again-1").get_json()
        assert doc["agreement_type"] == "joint_venture" and doc["history"] == []
        assert doc["label_status"]["agreement_type"]["status"] == "given"
        assert client.get("/v1/review?head=agreement_type").get_json()["reviewed"] == 1
    store = open_documents(home, database_url or None)
    try:
        assert store.corrections_since(0)[0]["id"] == corpus_id
    finally:
        store.close()
