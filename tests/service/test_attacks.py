"""A handful of hostile clients on loopback hold no app thread: the API keeps answering.

Each test opens a bounded number of connections to a real `tagsim serve` (two workers),
misbehaves on them for a few seconds, and meanwhile asks `/healthz` and `/v1/tag` again
and again: every answer must come in under 1 s. These are the attacks that froze the
hand-written gunicorn worker this server replaced (issue 20, item 2).
"""

import time

import pytest

from service.client import ApiError

TAG_HEAD = (b"POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
CHUNKED_HEAD = (b"POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
ARTICLE = "The bank signed a memorandum of understanding with a solar developer."


def answer_times(server, seconds, between=None):
    """Seconds each /healthz and /v1/tag took over *seconds*; None for one that never came.

    *between*, if given, is called between rounds (the attack's next move).
    """
    client = server.client(timeout=2.0)
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for call in (lambda: client._call("GET", "/healthz"), lambda: client.tag(ARTICLE)):
            started = time.monotonic()
            try:
                call()
                times.append(time.monotonic() - started)
            except ApiError:
                times.append(None)
        if between:
            between()
        time.sleep(0.1)
    return times


def assert_answered_quickly(times):
    assert len(times) >= 10 and all(t is not None and t < 1.0 for t in times), times


def open_connections(server, count, first_bytes):
    socks = []
    for _ in range(count):
        sock = server.connect(timeout=5)
        sock.sendall(first_bytes)
        socks.append(sock)
    return socks


def close_all(socks):
    for sock in socks:
        sock.close()


def test_huge_headers_then_a_line_every_four_seconds(server):
    """8 connections send 66 KiB of headers, then one more header line every 4 s."""
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(66))
    socks = open_connections(server, 8, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + pad)
    last = [time.monotonic()]

    def trickle():
        if time.monotonic() - last[0] >= 4:
            last[0] = time.monotonic()
            for n, sock in enumerate(socks):
                try:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % n)
                except OSError:
                    pass  # the server closed it: that is allowed
    try:
        assert_answered_quickly(answer_times(server, 9, trickle))
    finally:
        close_all(socks)


@pytest.mark.parametrize("connections, packet", [
    # a complete request and, in the same packet, half of the next
    (16, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + TAG_HEAD + b'{"text": "a ba'),
    # a 2 MiB chunk announced, a little of it sent, then a stall
    (24, CHUNKED_HEAD + b"200000\r\n" + b"x" * 1000),
    # a chunk-size line of 1,100 bytes that never ends
    (16, CHUNKED_HEAD + b"1;ext=" + b"e" * 1100),
], ids=["request-then-half-of-the-next", "chunk-size-over-1-mib", "chunk-size-line-over-1-kib"])
def test_connections_that_stall_mid_request(server, connections, packet):
    socks = open_connections(server, connections, packet)
    try:
        assert_answered_quickly(answer_times(server, 5))
    finally:
        close_all(socks)


def test_four_hundred_and_fifty_idle_connections(server):
    """450 connections that send nothing at all."""
    socks = [server.connect(timeout=5) for _ in range(450)]
    try:
        assert_answered_quickly(answer_times(server, 5))
    finally:
        close_all(socks)


def test_fifty_slow_clients(server):
    """Headers sent, then the body stalled or trickled a byte a round."""
    stalled = open_connections(server, 10, CHUNKED_HEAD + b"8\r\n{\"text\":\r\n")
    stalled += open_connections(server, 20, TAG_HEAD + b'{"text":')
    trickled = open_connections(server, 20, TAG_HEAD + b'{"text":')
    socks = stalled + trickled

    def trickle():
        for sock in trickled:
            sock.sendall(b" ")  # a byte a round, never the 100 announced
    try:
        assert_answered_quickly(answer_times(server, 5, trickle))
        for sock in socks:  # still waiting, unanswered: they were slow throughout
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        close_all(socks)

