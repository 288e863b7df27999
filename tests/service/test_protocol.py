"""The real server against careless and slow clients: no worker is held, every answer is JSON."""

import json
import shutil
import socket
import time

import pytest

from service.worker import HEADER_BUFFER, request_complete
from tests.service.live import Server, read_answer

TAG_HEAD = (b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
CHUNKED_HEAD = (b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")


@pytest.mark.parametrize("data, complete", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", False),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"GET /healthz HTTP/1.1\nHost: x\n\n", True),
    (TAG_HEAD + b'{"text":', False),
    (TAG_HEAD + b"x" * 99, False),
    (TAG_HEAD + b"x" * 100, True),
    (TAG_HEAD.replace(b"100", b"abc"), True),             # gunicorn answers 400 at once
    (TAG_HEAD.replace(b"100", str(2 << 20).encode()), True),  # the app answers 413 unread
    (CHUNKED_HEAD + b"5\r\nhello\r\n", False),
    (CHUNKED_HEAD + b"5\r\nhello\r\n0\r\n", False),
    (CHUNKED_HEAD + b"5\r\nhello\r\n0\r\n\r\n", True),
    (CHUNKED_HEAD + b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", True),
    (CHUNKED_HEAD + b"zz\r\n", True),                     # malformed: gunicorn answers 400
    (b"GET /" + b"a" * HEADER_BUFFER + b" HTTP/1.1", True),  # gunicorn answers 414
])
def test_request_complete(data, complete):
    assert request_complete(bytearray(data), 1 << 20)[0] is complete


def test_expect_100_continue_is_noticed():
    head = TAG_HEAD.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
    assert request_complete(bytearray(head), 1 << 20) == (False, True)


def test_fifty_slow_clients_do_not_delay_a_normal_one(server):
    """Headers sent, then the body stalled or trickled: no worker waits for them."""
    slow = []
    for i in range(50):
        sock = server.connect()
        sock.sendall(CHUNKED_HEAD + b"8\r\n{\"text\":\r\n" if i % 5 == 0 else
                     TAG_HEAD + b'{"text":')
        slow.append(sock)
    timings = []
    client = server.client(timeout=5)
    for _ in range(10):
        for sock in slow[1::2]:
            sock.sendall(b" ")  # trickled: a byte a round, never the 100 announced
        for call in (lambda: client._call("GET", "/healthz"),
                     lambda: client.tag("The bank signed a memorandum of understanding.")):
            started = time.monotonic()
            call()
            timings.append(time.monotonic() - started)
    for sock in slow:  # still waiting, unanswered: they were slow throughout
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(1)
        sock.close()
    assert len(timings) == 20 and max(timings) < 1.0, timings


@pytest.fixture(scope="module")
def quick(tmp_path_factory, trained_home):
    """A server that gives a request 1 s to arrive whole."""
    home = tmp_path_factory.mktemp("quick") / "home"
    shutil.copytree(trained_home, home, symlinks=True)
    srv = Server(home, env={"TAGSIM_READ_TIMEOUT": "1"}).start()
    yield srv
    srv.stop()


def answer_to(server, data):
    """(status, headers, body) of the answer to raw request bytes."""
    with server.connect() as sock:
        sock.sendall(data)
        raw = read_answer(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


CLOSE = b"Connection: close\r\n"


@pytest.mark.parametrize("data, status, code", [
    (b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "headers_too_large"),
    (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
    (TAG_HEAD.replace(b"100", b"abc"), 400, "bad_request"),
    (TAG_HEAD + b'{"text":', 408, "timeout"),
    (CHUNKED_HEAD + b"8\r\n{\"text\":\r\n", 408, "timeout"),
    (CHUNKED_HEAD + b"3\r\n{\"text\":\r\n0\r\n\r\n", 400, "bad_json"),  # a chunk longer than said
    (TAG_HEAD.replace(b"100", str((1 << 20) + 1).encode()), 413, "too_large"),
])
def test_errors_below_flask_are_json(quick, data, status, code):
    got, headers, body = answer_to(quick, data)
    assert (got, headers["content-type"]) == (status, "application/json"), body
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"]


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
    request = f"{method} {path.format(id=corpus_ids[0])} HTTP/1.1\r\nHost: x\r\n"
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


def test_sockets_are_given_a_timeout():
    from service.worker import TimedSocket

    a, b = socket.socketpair()
    timed = TimedSocket.adopt(a, 0.2)
    timed.setblocking(True)
    assert timed.gettimeout() == 0.2
    with pytest.raises(TimeoutError):
        timed.recv(1)
    timed.close()
    b.close()
