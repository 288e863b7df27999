import shutil

import pytest

from model.store import ArtifactStore
from service import create_app
from service.settings import Settings
from training.train import train

WRITE, READ = "w-token-123", "r-token-456"


@pytest.fixture
def secured(home):
    return create_app(settings=Settings(home=home, reload_seconds=0, api_token=WRITE,
                                        read_token=READ)).test_client()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("method, path, body, status", [
    ("post", "/v1/documents", {"text": "A bank deal."}, 201),
    ("delete", "/v1/documents/{corpus_id}", None, 204),
    ("post", "/v1/admin/reload", None, 200),
])
def test_writes_need_the_api_token(secured, corpus_docs, method, path, body, status):
    path = path.format(corpus_id=corpus_docs[0]["id"])
    for headers in ({}, bearer(READ), bearer("wrong"), {"Authorization": WRITE}):
        r = getattr(secured, method)(path, json=body, headers=headers)
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = getattr(secured, method)(path, json=body, headers=bearer(WRITE))
    assert r.status_code == status, r.get_data(as_text=True)


def test_reads_need_a_token_when_a_read_token_is_set(secured):
    assert secured.post("/v1/tag", json={"text": "hi"}).status_code == 401
    assert secured.get("/metrics").status_code == 401
    for token in (READ, WRITE):
        assert secured.post("/v1/tag", json={"text": "hi"}, headers=bearer(token)).status_code \
            == 200
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert secured.get(path).status_code == 200


def test_with_only_a_write_token_tagging_is_open_and_documents_are_not(home, corpus_docs):
    client = create_app(settings=Settings(home=home, reload_seconds=0, api_token=WRITE)).test_client()
    assert client.post("/v1/tag", json={"text": "hi"}).status_code == 200
    assert client.get("/v1/model").status_code == 200
    assert client.post("/v1/documents", json={"text": "hi"}).status_code == 401
    doc_id = corpus_docs[0]["id"]
    # Once any token is set, no anonymous request reads documents either.
    reads = [("get", f"/v1/documents/{doc_id}", None), ("get", f"/v1/documents/{doc_id}/similar", None),
             ("post", "/v1/similar", {"text": "solar power"}), ("get", "/v1/review", None)]
    for method, path, body in reads:
        r = getattr(client, method)(path, json=body) if body else getattr(client, method)(path)
        assert r.status_code == 401, path
        assert "TAGSIM_API_TOKEN" in r.get_json()["error"]["message"]
        r = getattr(client, method)(path, json=body, headers=bearer(WRITE)) if body else \
            getattr(client, method)(path, headers=bearer(WRITE))
        assert r.status_code == 200, (path, r.get_data(as_text=True))


@pytest.fixture
def read_only_token(home):
    return create_app(settings=Settings(home=home, reload_seconds=0, read_token=READ)).test_client()


@pytest.mark.parametrize("method, path, body, status", [
    ("post", "/v1/documents", {"text": "A bank deal."}, 201),
    ("patch", "/v1/documents/{corpus_id}", {"agreement_type": "licensing"}, 200),
    ("delete", "/v1/documents/{corpus_id}", None, 204),
    ("post", "/v1/admin/reload", None, 200),
])
def test_a_read_token_alone_guards_writes_too(read_only_token, corpus_docs, method, path, body,
                                              status):
    path = path.format(corpus_id=corpus_docs[0]["id"])
    for headers in ({}, bearer("wrong")):
        r = getattr(read_only_token, method)(path, json=body, headers=headers)
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
        assert "history" not in r.get_data(as_text=True)
    r = getattr(read_only_token, method)(path, json=body, headers=bearer(READ))
    assert r.status_code == status, r.get_data(as_text=True)


def test_admin_reload_switches_to_a_new_version(home, small_corpus, client):
    old = client.get("/readyz").get_json()["model_version"]
    client.post("/v1/documents", json={"id": "kept", "text": "Tidal power loan signed."})
    new = train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)["version"]
    assert client.post("/v1/tag", json={"text": "hi"}).get_json()["model_version"] == old
    r = client.post("/v1/admin/reload")
    assert r.status_code == 200 and r.get_json()["model_version"] == new != old
    assert client.post("/v1/tag", json={"text": "hi"}).get_json()["model_version"] == new
    assert client.get("/v1/documents/kept").status_code == 200


def test_a_broken_new_version_is_not_served(home, small_corpus, client):
    old = client.get("/readyz").get_json()["model_version"]
    train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)
    (ArtifactStore(home).current_dir() / "model.joblib").write_bytes(b"not a model")
    r = client.post("/v1/admin/reload")
    assert r.status_code == 503 and "still serving " + old in r.get_json()["error"]["message"]
    assert client.post("/v1/tag", json={"text": "hi"}).get_json()["model_version"] == old
    assert client.get("/readyz").status_code == 200


def test_watcher_reloads_by_itself(home, small_corpus):
    import time

    app = create_app(settings=Settings(home=home, reload_seconds=0.1))
    client = app.test_client()
    old = client.get("/readyz").get_json()["model_version"]  # starts the watcher
    new = train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)["version"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.get("/readyz").get_json()["model_version"] == new:
            break
        time.sleep(0.1)
    assert client.get("/readyz").get_json()["model_version"] == new != old


def test_server_without_model_becomes_ready_once_one_appears(tmp_path, small_corpus):
    app = create_app(settings=Settings(home=tmp_path, reload_seconds=0))
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    home = tmp_path
    train(small_corpus, home, folds=0, progress=False, log=lambda *_: None)
    assert client.post("/v1/admin/reload").status_code == 200
    assert client.get("/readyz").status_code == 200
    shutil.rmtree(tmp_path / "versions", ignore_errors=True)
