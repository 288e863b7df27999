"""Serve the app with gunicorn: the model is loaded once, before the workers fork."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from service import create_app


class TagsimServer(BaseApplication):
    """gunicorn running `create_app` with tagsim's settings."""

    def __init__(self, config, options):
        self.app_config = config
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(self.app_config)


def _worker_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(home, host="127.0.0.1", port=8000, workers=2, timeout=60):
    """Run gunicorn until it is stopped (SIGTERM or Ctrl-C)."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "preload_app": True,  # one copy of the model and index, shared by the workers
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": "-",
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',  # no query strings
        "child_exit": _worker_exit,
    }
    TagsimServer({"TAGSIM_HOME": str(home)}, options).run()
