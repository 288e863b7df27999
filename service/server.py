"""Serve the app with Granian: the model is loaded and verified once, before the workers start.

Granian (Rust, hyper) accepts connections and parses request lines and headers in each
worker's event loop; `WholeRequests` (service/whole_requests.py) reads the body there
too, so an app thread is given only a whole request. Workers are forked after the load
(Granian forks on Linux) and load nothing themselves; the index files are memory-mapped,
so the workers share their pages.
"""

from __future__ import annotations

import resource
import sys

from model.errors import ArtifactError
from service import create_app
from service.whole_requests import WholeRequests

_APP = None  # the app the workers answer with, set by `serve` before they fork
ACCESS_LOG_FORMAT = '%(addr)s "%(method)s %(path)s" %(status)d %(dt_ms).1fms'  # no query strings


def _forked_app(target=None):
    """Granian's target loader, called in each worker: the app built before the fork."""
    return _APP


def _allow_open_files(connections):
    """Raise this process's open-file limit (the workers inherit it) to hold *connections*."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256  # and the artifact files, the database, the listening socket
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


def serve(settings, host="127.0.0.1", workers=2):
    """Load the current model, then run Granian until it is stopped (SIGTERM or Ctrl-C).

    Raises `ArtifactError` at once, before any worker starts, if the model cannot be
    loaded. Each of *workers* processes answers with ``settings.threads`` threads; a
    request must arrive whole within ``settings.read_timeout`` seconds (headers: the
    connection is closed; body: 408), a body may hold ``settings.max_body_bytes``
    (more: 413), and a worker holds at most ``settings.max_connections`` connections.
    """
    global _APP
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    app = create_app({"TAGSIM_LOAD_MODEL": False}, settings)
    current = app.extensions["tagsim"]
    if not current.load():
        raise ArtifactError(current.problem)
    current.documents.close()  # each worker opens its own connections; none may share ours
    _allow_open_files(settings.max_connections)
    _APP = WholeRequests(app, settings.threads, settings.read_timeout,
                         settings.max_body_bytes)
    server = Server(
        "tagsim", address=host, port=settings.port, interface=Interfaces.ASGINL,
        workers=workers, http=HTTPModes.http1, websockets=False,
        backpressure=settings.max_connections,
        http1_settings=HTTP1Settings(header_read_timeout=min(settings.read_timeout, 60) * 1000,
                                     keep_alive=True),
        log_access=settings.access_log, log_access_format=ACCESS_LOG_FORMAT,
        workers_kill_timeout=10)
    print(f"tagsim serve: serving {current.searcher.model.version} on http://{host}:{settings.port} "
          f"({workers} workers x {settings.threads} threads; Ctrl-C stops)", file=sys.stderr, flush=True)
    server.serve(target_loader=_forked_app)
