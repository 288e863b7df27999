"""Serve the app with gunicorn: the model is loaded once, before the workers fork."""

from __future__ import annotations

import os
import sys

from gunicorn.app.base import BaseApplication

from model.errors import ArtifactError, InvalidInput
from service import create_app
from service.worker import buffering_worker

# The serving knobs read from the environment (see the README's configuration table).
SETTINGS = {"TAGSIM_THREADS": 4, "TAGSIM_READ_TIMEOUT": 10, "TAGSIM_MAX_CONNECTIONS": 200}


class TagsimServer(BaseApplication):
    """gunicorn serving an app built (and its model loaded) before the workers fork."""

    def __init__(self, app, options):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def _worker_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def setting(name, environ=None):
    """A whole-number serving knob from the environment, or its default; at least 1."""
    raw = (os.environ if environ is None else environ).get(name) or str(SETTINGS[name])
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise InvalidInput(f"{name} must be a whole number of 1 or more, got {raw!r}; "
                           "fix or unset it")
    return int(raw)


def serve(home, host="127.0.0.1", port=8000, workers=2, timeout=60, access_log=None,
          database_url=None):
    """Load the current model, then run gunicorn until it is stopped (SIGTERM or Ctrl-C).

    Raises `ArtifactError` at once, before any worker starts, if the model cannot be
    loaded. The workers are forked after the load and share its memory. Each worker
    reads whole requests in its event loop and answers them with $TAGSIM_THREADS
    threads (see service/worker.py); a request must arrive within $TAGSIM_READ_TIMEOUT
    seconds, and a worker holds at most $TAGSIM_MAX_CONNECTIONS connections.
    *access_log* false turns the access log off (default: on unless $TAGSIM_ACCESS_LOG is 0).
    *database_url* (default $TAGSIM_DATABASE_URL) keeps the documents in PostgreSQL
    instead of the home's SQLite.
    """
    threads, read_timeout, connections = (setting(name) for name in SETTINGS)
    if access_log is None:
        access_log = os.environ.get("TAGSIM_ACCESS_LOG", "1") != "0"
    config = {"TAGSIM_HOME": str(home), "TAGSIM_LOAD_MODEL": False}
    if database_url:
        config["DATABASE_URL"] = database_url
    app = create_app(config)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": buffering_worker(read_timeout, app.config["MAX_CONTENT_LENGTH"]),
        "threads": threads,
        "worker_connections": connections,
        "keepalive": 5,
        "preload_app": True,  # the app (loaded below) is built once, before the fork
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": "-" if access_log else None,
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',  # no query strings
        "child_exit": _worker_exit,
    }
    current = app.extensions["tagsim"]
    if not current.load():
        raise ArtifactError(current.problem)
    current.documents.close()  # each worker opens its own connections; none may share ours
    print(f"tagsim serve: serving {current.searcher.model.version} on http://{host}:{port} "
          f"({workers} workers x {threads} threads; Ctrl-C stops)", file=sys.stderr, flush=True)
    TagsimServer(app, options).run()
