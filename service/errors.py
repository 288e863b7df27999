"""Every failure becomes ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from model.errors import InvalidInput, TagsimError


class BadJson(InvalidInput):
    """The body is not valid JSON."""

    code = "bad_json"


class Unauthorized(TagsimError):
    """A token is required and was missing or wrong."""

    code = "unauthorized"
    http_status = 401


class NotReady(TagsimError):
    """No model is loaded yet."""

    code = "not_ready"
    http_status = 503


class TooLarge(TagsimError):
    """The request or one of its fields is larger than allowed."""

    code = "too_large"
    http_status = 413


class RequestTimeout(TagsimError):
    """The body stopped arriving before it was whole."""

    code = "timeout"
    http_status = 408


class UnsupportedMediaType(TagsimError):
    """The body is not JSON."""

    code = "unsupported_media_type"
    http_status = 415


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
              405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def error_response(status, code, message):
    """The one error shape."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def register(app):
    """Install the handlers on *app*."""

    @app.errorhandler(TagsimError)
    def tagsim_error(exc):
        response = error_response(exc.http_status, exc.code, str(exc))
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="tagsim"'
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc):
        code = HTTP_CODES.get(exc.code, "http_error")
        message = {404: "no such endpoint; see /openapi.json",
                   405: "method not allowed on this endpoint",
                   413: f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
                   }.get(exc.code, exc.description or exc.name)
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def unexpected(exc):  # a bug; never an HTML page, never the details
        app.logger.exception("unexpected error")
        return error_response(500, "internal_error", "unexpected server error; it was logged")

    @app.after_request
    def no_html(response):
        # Flask answers OPTIONS itself with an empty text/html page, and a 204 has no
        # body to describe: both go out as 204 with no Content-Type.
        if response.status_code == 204 or (request.method == "OPTIONS"
                                            and response.mimetype == "text/html"):
            response.status_code = 204
            response.headers.pop("Content-Type", None)
        return response
