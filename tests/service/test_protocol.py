"""The real server against careless and slow clients: no worker is held, every answer is JSON."""

import json
import shutil
import time

import pytest

from tests.service.live import Server, read_answer

TAG_HEAD = (b"POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
CHUNKED_HEAD = (b"POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")


@pytest.fixture(scope="module")
def quick(tmp_path_factory, trained_home):
    """A server that gives a request 1 s to arrive whole."""
    home = tmp_path_factory.mktemp("quick") / "home"
    shutil.copytree(trained_home, home, symlinks=True)
    srv = Server(home, env={"TAGSIM_READ_TIMEOUT": "1"}).start()
    yield srv
    srv.stop()


CLOSE = b"Connection: close\r\n"


def answer_to(server, data):
    """(status, headers, body) of the answer to raw request bytes."""
    with server.connect() as sock:
        try:
            sock.sendall(data)
        except OSError:  # answered and closed before all of it was sent (413)
            pass
        raw = read_answer(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("data, status, code", [
    (b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + CLOSE + b"\r\n", 400,
     "invalid_input"),  # a long query reaches the app, which names the parameter it does not know
    (TAG_HEAD + b'{"text":', 408, "timeout"),
    (CHUNKED_HEAD + b"8\r\n{\"text\":\r\n", 408, "timeout"),
    (CHUNKED_HEAD + b"3\r\n{\"text\":\r\n0\r\n\r\n", 400, "bad_request"),  # a chunk longer than said
    (CHUNKED_HEAD + b"zz\r\n", 400, "bad_request"),
    (TAG_HEAD.replace(b"100", str((1 << 20) + 1).encode()), 413, "too_large"),
    (CHUNKED_HEAD + b"%x\r\n" % ((1 << 20) + 1) + b" " * ((1 << 20) + 1) + b"\r\n0\r\n\r\n", 413,
     "too_large"),  # over the limit in chunks: too large, not bad JSON
])
def test_errors_below_flask_are_json(quick, data, status, code):
    got, headers, body = answer_to(quick, data)
    assert (got, headers["content-type"]) == (status, "application/json"), body
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"]


@pytest.mark.parametrize("data, status", [
    (b"GET /healthz?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: a\r\n" * 101 + b"\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n\r\n", 431),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (TAG_HEAD.replace(b"100", b"abc"), 400),
])
def test_what_granian_refuses_itself_is_an_empty_answer(quick, data, status):
    """docs/api.md lists these: Granian answers them before the app, with no body."""
    got, headers, body = answer_to(quick, data)
    assert (got, body, headers.get("connection")) == (status, b"", "close")


@pytest.mark.parametrize("data", [
    CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\n" + CLOSE + b"\r\n")
    + b"8\r\n{\"text\":\r\n1a\r\n \"a bank bought a lender\"}\r\n0\r\n\r\n",
    TAG_HEAD.replace(b"100", b"34").replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n"
                                                        + CLOSE + b"\r\n")
    + b'{"text": "a bank bought a lender"}',
])
def test_chunked_and_expect_continue_bodies_are_answered(quick, data):
    status, headers, body = answer_to(quick, data)
    assert status == 200, body
    assert json.loads(body)["agreement_type"]["label"]


@pytest.mark.parametrize("method, path", [("OPTIONS", "/v1/tag"),
                                          ("DELETE", "/v1/documents/{id}")])
def test_empty_answers_are_204_without_a_content_type(quick, corpus_ids, method, path):
    request = f"{method} {path.format(id=corpus_ids[0])} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    status, headers, body = answer_to(quick, request.encode() + CLOSE + b"\r\n")
    assert (status, body) == (204, b"") and "content-type" not in headers


def test_a_connection_that_sends_nothing_is_closed(quick):
    with quick.connect() as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def corpus_ids(quick):
    lines = (quick.home / "current" / "documents.jsonl").read_text().splitlines()
    return [json.loads(line)["id"] for line in lines]

