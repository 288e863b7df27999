"""A small client for other services: one method per endpoint, errors as exceptions.

With a server running (``make serve``)::

    client = TagsimClient("http://127.0.0.1:8000", timeout=2.0)
    client.tag("The bank signed an MoU with a solar developer.")["agreement_type"]
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from model.errors import TagsimError


class ApiError(TagsimError):
    """The API answered with an error, or could not be reached.

    ``status`` is the HTTP status (None when no answer came) and ``code`` the API's
    error code (``timeout`` or ``unreachable`` when no answer came).
    """

    def __init__(self, status, code, message):
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.status, self.code, self.message = status, code, message


class TagsimClient:
    """Talk to a tagsim server.

    Parameters
    ----------
    base_url : str
        Where the server listens, e.g. ``http://127.0.0.1:8000``.
    timeout : float
        Seconds to wait for each answer.
    token : str or None
        Sent as ``Authorization: Bearer <token>`` when set.
    """

    def __init__(self, base_url="http://127.0.0.1:8000", timeout=5.0, token=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", exc.reason
            raise ApiError(exc.code, code, message) from None
        except TimeoutError:
            raise ApiError(None, "timeout", f"no answer from {self.base_url} within "
                                            f"{self.timeout} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ApiError(None, "timeout", f"no answer from {self.base_url} within "
                                                f"{self.timeout} s") from None
            raise ApiError(None, "unreachable", f"{self.base_url}: {exc.reason}") from None

    def tag(self, text, title=None, explain=False):
        """Sectors and agreement type of one article."""
        body = {"text": text, "explain": explain} | ({"title": title} if title else {})
        return self._call("POST", "/v1/tag", body)

    def tag_batch(self, items, explain=False):
        """Tag many articles: *items* are texts or dicts with text (and id, title)."""
        items = [{"text": i} if isinstance(i, str) else i for i in items]
        return self._call("POST", "/v1/tag/batch", {"items": items, "explain": explain})["results"]

    def similar(self, text=None, id=None, k=10, sector=None, agreement_type=None, min_score=None):
        """The most similar documents to a text or to a stored document id, best first."""
        body = {"text": text, "id": id, "k": k, "sector": sector,
                "agreement_type": agreement_type, "min_score": min_score}
        return self._call("POST", "/v1/similar",
                          {k: v for k, v in body.items() if v is not None})["results"]

    def add_document(self, text, id=None, title=None, sectors=None, agreement_type=None):
        """Store a document (searchable at once); returns its id and labels."""
        body = {"text": text, "id": id, "title": title, "sectors": sectors,
                "agreement_type": agreement_type}
        return self._call("POST", "/v1/documents", {k: v for k, v in body.items() if v is not None})

    def get_document(self, doc_id):
        """A stored document."""
        return self._call("GET", f"/v1/documents/{urllib.parse.quote(doc_id, safe='')}")

    def delete_document(self, doc_id):
        """Delete a stored document."""
        self._call("DELETE", f"/v1/documents/{urllib.parse.quote(doc_id, safe='')}")

    def model(self):
        """The current model's manifest."""
        return self._call("GET", "/v1/model")
