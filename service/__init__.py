"""The tagsim HTTP service: `create_app` builds a Flask app around one model home."""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

DEFAULTS = {
    "TAGSIM_LOAD_MODEL": True,       # False: load on the first request or reload (serve loads first)
}


class StrictJSONProvider(DefaultJSONProvider):
    """JSON out with no NaN or Infinity, which are not JSON."""

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("allow_nan", False)
        kwargs.setdefault("sort_keys", False)
        return super().dumps(obj, **kwargs)


def create_app(config=None, settings=None):
    """Build the app over *settings* (a `Settings`; by default read from the environment).

    *config* is Flask configuration on top of `DEFAULTS` (tests pass ``{"TESTING": True}``).
    Raises `InvalidSettings`, naming the variable, when the environment holds a bad value.
    """
    # Imported here, as flaskr does: importing the package (for its CLI commands) must not
    # load prometheus_client before `tagsim serve` has set PROMETHEUS_MULTIPROC_DIR.
    from model.mapped import AST_LOCK
    from service import auth, endpoints, errors, protection
    from service.api import bp
    from service.current import CurrentModel
    from service.documents_command import left_behind
    from service.metrics import Metrics
    from service.settings import Settings
    from service.web import bp as web_bp

    settings = Settings.from_environment() if settings is None else settings
    with AST_LOCK:  # Flask compiles every URL rule with `ast` (see model.mapped.AST_LOCK)
        app = Flask(__name__)
        app.config.from_mapping(DEFAULTS)
        app.config.update(config or {})
        app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
        app.extensions["tagsim.settings"] = settings
        app.json = StrictJSONProvider(app)
        app.url_map.strict_slashes = False  # no redirects: every answer is JSON
        app.url_map.merge_slashes = False
        errors.register(app)
        metrics = Metrics()
        metrics.install(app)
        protection.install(app, protection.parse_hosts(settings.allowed_hosts))
        auth.install(app, settings)  # before the query check: no token, no hint of what it takes
        endpoints.install(app)
        current = CurrentModel(settings)
        if warning := left_behind(settings):
            app.logger.warning(warning)
        if app.config["TAGSIM_LOAD_MODEL"]:
            if not current.load():
                app.logger.error("model not loaded: %s", current.problem)
        current.start_watcher()  # here and in every process forked from this one
        app.extensions["tagsim"] = current
        app.extensions["tagsim.metrics"] = metrics
        app.register_blueprint(bp)
        app.register_blueprint(web_bp)
        return app
