"""The gunicorn worker of `tagsim serve`: a thread is given a request only once all of it has come.

gunicorn's threaded worker hands a connection to a thread as soon as it has bytes, and the
thread then blocks reading the rest of the headers and the body, so a few clients that
send headers and stall their body hold every thread (with sync workers, every process).
Here each worker's event loop reads requests without blocking — the headers, then the
body their Content-Length or chunked framing announces — and only a whole request
reaches a thread. One that has not all come within the read timeout is answered 408 and
closed; idle connections are closed too. Sockets handed to a thread keep a timeout, so a
client that stops reading its answer cannot hold a thread either. The errors gunicorn
answers by itself (a request line or headers too long, a malformed request) are JSON,
like the application's.

This subclasses gunicorn 27's ThreadWorker (pinned in pyproject.toml): what it adds is
the reading, done by `_read_some` and `request_complete`, and the JSON error pages.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import time
from functools import partial

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

HEADER_BUFFER = 64 * 1024   # header bytes buffered; beyond that gunicorn's parser refuses them
ERROR_CODES = {400: "bad_request", 403: "forbidden", 408: "timeout", 414: "uri_too_long",
               417: "expectation_failed", 431: "headers_too_large", 500: "internal_error",
               501: "not_implemented"}
HINTS = {414: "put long input in a JSON body instead",
         431: "send fewer or shorter headers",
         400: "send a well-formed HTTP/1.1 request"}


def json_error(status, reason, message):
    """A whole HTTP/1.1 error answer in the API's JSON shape, closing the connection."""
    body = json.dumps({"error": {"code": ERROR_CODES.get(status, "http_error"),
                                 "message": message}}).encode("utf-8")
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def _header_end(data):
    """Where the headers end (after the empty line), or -1; a bare-LF end counts too."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := data.find(mark)) >= 0]
    return min(ends, default=-1)


def _chunked_complete(data, start, max_body):
    """Whether a chunked body from *start* has ended (or is malformed or too large)."""
    pos, total = start, 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return len(data) - pos > 1024  # a chunk-size line this long is malformed
        try:
            size = int(data[pos:eol].split(b";")[0].strip(), 16)
        except ValueError:
            return True
        total += size
        if size < 0 or total > max_body:
            return True
        if size == 0:  # the last chunk, then trailer lines and an empty line
            return data.startswith(b"\r\n", eol + 2) or data.find(b"\r\n\r\n", eol) >= 0
        pos = eol + 2 + size + 2
        if pos > len(data):
            return False


def request_complete(data, max_body):
    """(complete, wants 100-continue) of the bytes received so far of one request.

    Complete means a thread can answer without waiting on the client: the headers ended
    and the body they announce has come — or they announce something gunicorn or the app
    answers without reading on (a bad length, a body over *max_body*), or they run past
    HEADER_BUFFER bytes.
    """
    end = _header_end(data)
    if end < 0:
        return len(data) > HEADER_BUFFER, False
    length, chunked, expect = None, False, False
    for line in bytes(data[:end]).splitlines()[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return True, False
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
            if not chunked:
                return True, False
        elif name == b"expect":
            expect = value == b"100-continue"
    if chunked and length is not None:
        return True, False  # both framings: gunicorn refuses it
    if chunked:
        return _chunked_complete(data, end, max_body), expect
    if length is None or length > max_body:
        return True, False
    return len(data) - end >= length, expect


class TimedSocket(socket.socket):
    """A socket whose blocking mode has a timeout: gunicorn's threads set sockets blocking."""

    io_timeout = 10.0

    @classmethod
    def adopt(cls, sock, timeout):
        """This socket's connection as a `TimedSocket`."""
        timed = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        timed.io_timeout = timeout
        return timed

    def setblocking(self, flag):
        self.settimeout(self.io_timeout if flag else 0.0)


class _Capture:
    """Stands in for a client socket while gunicorn writes its HTML error page."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0

    def sendall(self, data):
        self.data += data


class BufferingWorker(ThreadWorker):
    """gunicorn's gthread worker, reading each whole request before a thread answers it."""

    read_timeout = 10.0   # seconds for a whole request to come, and for each socket operation
    max_body = 1 << 20    # bodies announced larger are handed on at once: the app answers 413

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading = {}  # connection -> [deadline, bytes so far, 100-continue sent]

    def accept(self, listener):
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = TimedSocket.adopt(sock, self.read_timeout)
        self._start_reading(TConn(self.cfg, sock, addr, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection has a new request: read it as a new connection's."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)
        self._read_some(conn)

    def _start_reading(self, conn):
        self.reading[conn] = [time.monotonic() + self.read_timeout, bytearray(), False]
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_some, conn))

    def _read_some(self, conn, _sock=None):
        state = self.reading.get(conn)
        if state is None:
            return
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(conn)
            return
        state[1] += chunk
        complete, expect = request_complete(state[1], self.max_body)
        if complete:
            self.poller.unregister(conn.sock)
            del self.reading[conn]
            conn.init()
            conn.parser.unreader.unread(bytes(state[1]))
            self.enqueue_req(conn)
        elif expect and not state[2]:
            state[2] = True  # the client waits for this before it sends the body
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                self._drop(conn)

    def _drop(self, conn, answer=None):
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        if answer:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        self.nr_conns -= 1
        util.close(conn.sock)

    def murder_pending(self):
        """Also close connections whose request has not all come within the read timeout."""
        super().murder_pending()
        now = time.monotonic()
        for conn, (deadline, data, _) in list(self.reading.items()):
            if deadline <= now:
                self._drop(conn, json_error(408, "Request Timeout", (
                    f"the request did not arrive whole within {self.read_timeout:g} s; send "
                    "headers and body at once")) if data else None)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's answer to a request it could not read, as JSON instead of HTML."""
        page = _Capture()
        super().handle_error(req, page, addr, exc)  # logs, and picks the status
        status_line = page.data.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        status = int(status_line[1]) if len(status_line) == 3 else 500
        reason = status_line[2] if len(status_line) == 3 else "Internal Server Error"
        if status >= 500 and status != 501:
            message = "unexpected server error; it was logged"
        else:
            hint = HINTS.get(status)
            message = f"{reason.lower()}: {exc}" + (f"; {hint}" if hint else "")
        try:
            util.write_nonblock(client, json_error(status, reason, message))
        except Exception:
            self.log.debug("Failed to send error message.")


def buffering_worker(read_timeout, max_body):
    """The worker class to give gunicorn, with these limits."""
    return type("TagsimWorker", (BufferingWorker,),
                {"read_timeout": float(read_timeout), "max_body": int(max_body)})
