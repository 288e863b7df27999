"""The tagsim HTTP service: `create_app` builds a Flask app around one model home."""

from __future__ import annotations

import os

from flask import Flask
from flask.json.provider import DefaultJSONProvider

DEFAULTS = {
    "TAGSIM_HOME": "artifacts",
    "MAX_CONTENT_LENGTH": 1 << 20,   # bytes of request body
    "MAX_TEXT_CHARS": 200_000,       # characters of one text field
    "TAGSIM_LOAD_MODEL": True,
    "RELOAD_SECONDS": 2.0,           # how often each worker looks for a new `current`
    "API_TOKEN": "",                 # when set, writes need it as a bearer token
    "READ_TOKEN": "",                # when set, reads need it (or the API token)
    "DATABASE_URL": "",              # postgresql://... shares documents between replicas
}


class StrictJSONProvider(DefaultJSONProvider):
    """JSON out with no NaN or Infinity, which are not JSON."""

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("allow_nan", False)
        kwargs.setdefault("sort_keys", False)
        return super().dumps(obj, **kwargs)


def config_from_environment(environ=None):
    """The settings the environment overrides (see the README's configuration table)."""
    environ = os.environ if environ is None else environ
    out = {}
    if environ.get("TAGSIM_HOME"):
        out["TAGSIM_HOME"] = environ["TAGSIM_HOME"]
    if environ.get("TAGSIM_MAX_BODY_BYTES"):
        out["MAX_CONTENT_LENGTH"] = int(environ["TAGSIM_MAX_BODY_BYTES"])
    if environ.get("TAGSIM_MAX_TEXT_CHARS"):
        out["MAX_TEXT_CHARS"] = int(environ["TAGSIM_MAX_TEXT_CHARS"])
    if environ.get("TAGSIM_RELOAD_SECONDS"):
        out["RELOAD_SECONDS"] = float(environ["TAGSIM_RELOAD_SECONDS"])
    if environ.get("TAGSIM_API_TOKEN"):
        out["API_TOKEN"] = environ["TAGSIM_API_TOKEN"]
    if environ.get("TAGSIM_READ_TOKEN"):
        out["READ_TOKEN"] = environ["TAGSIM_READ_TOKEN"]
    if environ.get("TAGSIM_DATABASE_URL"):
        out["DATABASE_URL"] = environ["TAGSIM_DATABASE_URL"]
    return out


def create_app(config=None):
    """Build the app: defaults, then the environment, then *config* (tests pass a dict)."""
    # Imported here, as flaskr does: importing the package (for its CLI commands) must not
    # load prometheus_client before `tagsim serve` has set PROMETHEUS_MULTIPROC_DIR.
    from service import auth, errors
    from service.api import bp
    from service.current import CurrentModel
    from service.metrics import Metrics

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.update(config_from_environment())
    app.config.update(config or {})
    app.json = StrictJSONProvider(app)
    app.url_map.strict_slashes = False  # no redirects: every answer is JSON
    app.url_map.merge_slashes = False
    errors.register(app)
    metrics = Metrics()
    metrics.install(app)
    auth.install(app)
    current = CurrentModel(app.config["TAGSIM_HOME"], app.config["RELOAD_SECONDS"],
                           app.config["DATABASE_URL"] or None)
    if app.config["TAGSIM_LOAD_MODEL"]:
        if not current.load():
            app.logger.error("model not loaded: %s", current.problem)
    app.before_request(current.ensure_watcher)
    app.extensions["tagsim"] = current
    app.extensions["tagsim.metrics"] = metrics
    app.register_blueprint(bp)
    return app
