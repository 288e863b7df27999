"""Serve the app with gunicorn: the model is loaded once, before the workers fork."""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from model.errors import ArtifactError
from service import create_app
from service.worker import buffering_worker


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


def serve(settings, host="127.0.0.1", workers=2, timeout=60):
    """Load the current model, then run gunicorn until it is stopped (SIGTERM or Ctrl-C).

    Raises `ArtifactError` at once, before any worker starts, if the model cannot be
    loaded. The workers are forked after the load and share its memory. Each worker
    reads whole requests in its event loop and answers them with ``settings.threads``
    threads (see service/worker.py); a request must arrive within
    ``settings.read_timeout`` seconds, and a worker holds at most
    ``settings.max_connections`` connections. *settings* (a `Settings`) also give the
    home, the port, the document database and whether to write the access log.
    """
    app = create_app({"TAGSIM_LOAD_MODEL": False}, settings)
    options = {
        "bind": f"{host}:{settings.port}",
        "workers": workers,
        "worker_class": buffering_worker(settings.read_timeout,
                                          settings.max_body_bytes),
        "threads": settings.threads,
        "worker_connections": settings.max_connections,
        "keepalive": 5,
        "preload_app": True,  # the app (loaded below) is built once, before the fork
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": "-" if settings.access_log else None,
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',  # no query strings
        "child_exit": _worker_exit,
    }
    current = app.extensions["tagsim"]
    if not current.load():
        raise ArtifactError(current.problem)
    current.documents.close()  # each worker opens its own connections; none may share ours
    print(f"tagsim serve: serving {current.searcher.model.version} on http://{host}:{settings.port} "
          f"({workers} workers x {settings.threads} threads; Ctrl-C stops)", file=sys.stderr, flush=True)
    TagsimServer(app, options).run()
