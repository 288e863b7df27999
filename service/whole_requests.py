"""An ASGI app that gives the WSGI app whole requests only, on a pool of threads.

The HTTP server (Granian, see service/server.py) parses the request line and headers in
its event loop. Its own WSGI interface then hands a request to a thread at once and lets
that thread block while the body trickles in, so a few clients that stall their body
would hold every thread. Here the body is read in the event loop instead, within
`read_timeout` seconds and `max_body` bytes, and only then does a thread run the app;
the answer is collected by the thread and sent from the loop, so a client that stops
reading it holds no thread either.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("tagsim")
HEADERS = [(b"content-type", b"application/json"), (b"connection", b"close")]


class WholeRequests:
    """The ASGI face of *wsgi_app*: read each request whole, then answer it on a thread."""

    def __init__(self, wsgi_app, threads=4, read_timeout=10.0, max_body=1 << 20):
        self.wsgi_app = wsgi_app
        self.threads = threads
        self.read_timeout = float(read_timeout)
        self.max_body = int(max_body)
        self._pool = None
        self._pool_pid = None

    @property
    def pool(self):
        """This process's threads (made after the fork: a pool does not survive one)."""
        if self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tagsim-request")
            self._pool_pid = os.getpid()
        return self._pool

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _error(send, 413, "too_large", self._too_large())
            return
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.read_timeout)
        except asyncio.TimeoutError:
            await _error(send, 408, "timeout", (
                f"the request did not arrive whole within {self.read_timeout:g} s; send headers "
                "and body at once"))
            return
        except _TooLarge:
            await _error(send, 413, "too_large", self._too_large())
            return
        except _Unreadable:
            # Granian reports a malformed chunked body as a disconnect; to a client that
            # really went away, the answer goes nowhere.
            await _error(send, 400, "bad_request", (
                "the body ended before its length, or its chunked framing is malformed; send a "
                "well-formed HTTP/1.1 request"))
            return
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self.pool, self._run, environ(scope, body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _too_large(self):
        return f"request body is larger than {self.max_body} bytes"

    async def _read_body(self, receive):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Unreadable
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _run(self, env):
        """(status, headers, body) of the WSGI app's answer to *env*, on a pool thread."""
        started = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]

        try:
            result = self.wsgi_app(env, start_response)
            try:
                content = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:  # a bug the app did not catch: never an HTML page, never the details
            log.exception("unexpected error")
            body = json.dumps({"error": {"code": "internal_error", "message": (
                "unexpected server error; it was logged")}}).encode("utf-8")
            return 500, [(b"content-type", b"application/json")], body
        status, headers = started
        return (int(status.split(" ", 1)[0]),
                [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers], content)


class _TooLarge(Exception):
    pass


class _Unreadable(Exception):
    pass


def _header(scope, name):
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


def environ(scope, body):
    """The WSGI environ (PEP 3333) of an ASGI http *scope* whose whole body is *body*."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    env = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),  # what came, whichever framing brought it
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        env[key] = f"{env[key]}{'; ' if name == 'COOKIE' else ', '}{value}" if key in env else value
    return env


async def _error(send, status, code, message):
    """Answer in the API's error shape and close: the rest of the request is not read."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")
    headers = HEADERS + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send):
    """Nothing to start or stop: the app was built, and its model loaded, before the workers."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
