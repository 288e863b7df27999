"""A document database that is down slows only the requests that need it."""

import socket
import threading
import time

import pytest

from service import create_app
from service.settings import Settings

TIMEOUT = 1.0  # TAGSIM_DATABASE_TIMEOUT of these tests


@pytest.fixture
def closed_port():
    """A local TCP port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def down(home, closed_port):
    """A test client whose PostgreSQL database cannot be reached."""
    url = f"postgresql://tagsim@127.0.0.1:{closed_port}/tagsim"
    return create_app({"TESTING": True}, Settings(home=home, database_url=url, reload_seconds=0,
                                                  database_timeout=TIMEOUT)).test_client()


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_tagging_and_similar_answer_at_normal_speed_while_the_database_is_down(down, corpus_docs):
    down.post("/v1/similar", json={"text": "wind farm loan"})  # the outage is found once
    for _ in range(20):
        r, seconds = timed(lambda: down.post("/v1/tag", json={"text": "A bank bought a start-up."}))
        assert r.status_code == 200 and seconds < 0.3
        r, seconds = timed(lambda: down.post("/v1/similar", json={"text": "wind farm loan"}))
        assert r.status_code == 200 and seconds < 0.3, seconds
        assert r.headers["Tagsim-Documents"] == "stale" and r.get_json()["documents_stale"]
        r, seconds = timed(lambda: down.get(f"/v1/documents/{corpus_docs[0]['id']}/similar"))
        assert r.status_code == 200 and seconds < 0.3
        r, seconds = timed(lambda: down.get("/v1/review?head=sectors"))
        assert r.status_code == 200 and seconds < 0.3


@pytest.mark.parametrize("method, path, body", [
    ("get", "/v1/documents/{id}", None),
    ("post", "/v1/documents", {"text": "A bank lends to a wind farm."}),
    ("patch", "/v1/documents/{id}", {"agreement_type": "licensing"}),
    ("delete", "/v1/documents/{id}", None),
    ("get", "/readyz", None),
])
def test_what_needs_the_database_is_503_within_the_timeout(down, corpus_docs, method, path, body):
    path = path.format(id=corpus_docs[0]["id"])
    answers, times = [], []

    def call():
        r, seconds = timed(lambda: getattr(down, method)(path, json=body))
        answers.append(r)
        times.append(seconds)

    threads = [threading.Thread(target=call) for _ in range(8)]  # eight clients at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    call()
    assert {r.status_code for r in answers} == {503}
    assert {r.get_json()["error"]["code"] for r in answers} == {"database_unavailable"}
    assert max(times) < TIMEOUT + 0.5, times
    assert times[-1] < 0.3  # once found down, at once
