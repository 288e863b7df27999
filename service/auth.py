"""Bearer tokens. Once any token is set, no anonymous request changes or reads documents.

Writes need TAGSIM_API_TOKEN when it is set, else TAGSIM_READ_TOKEN (with only a read
token, nothing is open that a reader could not see, and a write's answer, a whole
document, is no read around the token). Reads need TAGSIM_READ_TOKEN (or the API token)
when it is set; with only an API token, the reads that answer with stored documents
(declared ``documents``: a document, similar documents, the review queue) need it, and
the others (tagging, the manifest) stay open.

Which endpoints write and which are open to anyone is declared with each endpoint
(service/endpoints.py, ``writes`` and ``public``).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import request

from service.endpoints import current_endpoint, public_paths
from service.errors import Unauthorized


def _presented():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _matches(token, expected):
    # Constant-time comparison of equal-length digests, so timing says nothing either way.
    digest = hashlib.sha256
    return bool(expected) and hmac.compare_digest(digest(token.encode()).digest(),
                                                  digest(expected.encode()).digest())


def install(app, settings):
    """Check tokens before every request, as *settings* (`Settings`) set them."""
    write_token, read_token = settings.api_token, settings.read_token
    if not write_token and not read_token:
        return
    open_paths = public_paths()
    needed_for_writes = "TAGSIM_API_TOKEN" if write_token else "TAGSIM_READ_TOKEN"

    @app.before_request
    def check_token():
        declared = current_endpoint()
        if (declared is not None and declared.public) or request.path in open_paths \
                or request.path.startswith("/static/"):
            return
        token = _presented()
        if declared is not None and declared.writes:
            if not _matches(token, write_token or read_token):
                raise Unauthorized("this endpoint changes data: send 'Authorization: Bearer "
                                   f"<token>' with the server's {needed_for_writes}")
        elif (read_token or (declared is not None and declared.documents)) \
                and not (_matches(token, read_token) or _matches(token, write_token)):
            raise Unauthorized("send 'Authorization: Bearer <token>' with the server's "
                               + ("TAGSIM_READ_TOKEN" if read_token else "TAGSIM_API_TOKEN"))
