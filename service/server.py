"""Serve the app with gunicorn: the model is loaded once, before the workers fork."""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication

from model.errors import ArtifactError
from service import create_app


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


def serve(home, host="127.0.0.1", port=8000, workers=2, timeout=60, threads=None,
          access_log=None, database_url=None):
    """Load the current model, then run gunicorn until it is stopped (SIGTERM or Ctrl-C).

    Raises `ArtifactError` at once, before any worker starts, if the model cannot be
    loaded. The workers are forked after the load and share its memory. *threads* > 1
    uses gthread workers (keep-alive connections, threads per worker); by default
    $TAGSIM_THREADS or 1, sync workers. *access_log* false turns the access log off
    (default: on unless $TAGSIM_ACCESS_LOG is 0). *database_url* (default
    $TAGSIM_DATABASE_URL) keeps the documents in PostgreSQL instead of the home's SQLite.
    """
    threads = threads or int(os.environ.get("TAGSIM_THREADS") or 1)
    if access_log is None:
        access_log = os.environ.get("TAGSIM_ACCESS_LOG", "1") != "0"
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "preload_app": True,  # the app (loaded below) is built once, before the fork
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": "-" if access_log else None,
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',  # no query strings
        "child_exit": _worker_exit,
    }
    if threads > 1:
        options.update(worker_class="gthread", threads=threads, keepalive=5)
    config = {"TAGSIM_HOME": str(home), "TAGSIM_LOAD_MODEL": False}
    if database_url:
        config["DATABASE_URL"] = database_url
    app = create_app(config)
    current = app.extensions["tagsim"]
    if not current.load():
        raise ArtifactError(current.problem)
    current.documents.close()  # each worker opens its own connections; none may share ours
    TagsimServer(app, options).run()
