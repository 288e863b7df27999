"""The HTTP routes: parse and validate, call the model, serialise."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from model.errors import AlreadyExists, ArtifactError, InvalidInput, StoreUnavailable
from model.features import document_text, require_words
from model.language import language_warning
from service.endpoints import declared_body, declared_query, endpoint, openapi_spec
from service.errors import BadJson, RequestTimeout, TooLarge, UnsupportedMediaType
from service.schemas import (
    MAX_BATCH,
    CorrectionIn,
    DocumentIn,
    ReviewQuery,
    SimilarQuery,
    SimilarRequest,
    TagBatchRequest,
    TagRequest,
)

bp = Blueprint("api", __name__)


def current_model():
    """The `CurrentModel` of this app."""
    return current_app.extensions["tagsim"]


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_json():
    """The request body as a JSON object, or a clear 4xx."""
    if not request.is_json:
        raise UnsupportedMediaType("send a JSON body with 'Content-Type: application/json'")
    try:
        raw = request.get_data(cache=False)
    except HTTPException:
        raise
    except OSError:  # a server that streams the body timed the client out
        raise RequestTimeout("the request body stopped arriving; send it whole, at once") from None
    except Exception as exc:  # the server could not decode the body's framing
        raise BadJson(f"the body could not be read ({exc}); check its Content-Length or "
                      "chunked framing") from None
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogates inside
    except RecursionError:
        raise BadJson("body is nested too deeply") from None
    except UnicodeError:
        raise BadJson("body holds invalid unicode (a lone surrogate escape?)") from None
    except ValueError as exc:
        raise BadJson(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    return data


STALE = {"Tagsim-Documents": "stale"}  # answered from the last snapshot: the database is down


def searched(body, stale):
    """A search's answer; while the database is down, marked as possibly stale (header and field)."""
    return (body | {"documents_stale": True}, 200, STALE) if stale else body


def check_text(text, field="text"):
    """Length limit (413) and at least one word (422)."""
    limit = current_app.extensions["tagsim.settings"].max_text_chars
    if len(text) > limit:
        raise TooLarge(f"{field} has {len(text)} characters; the limit is {limit}")
    require_words(text, field)


def check_article(title, text, prefix=""):
    """An article to tag: each field within the length limit (413), words in one of them (422)."""
    limit = current_app.extensions["tagsim.settings"].max_text_chars
    for field, value in (("title", title or ""), ("text", text)):
        if len(value) > limit:
            raise TooLarge(f"{prefix}{field} has {len(value)} characters; the limit is {limit}")
    require_words(document_text(title, text), f"{prefix}text (with the title)")


NOT_ENGLISH = "; not_english and warnings when the text does not look like English"


@endpoint(bp, "POST", "/v1/tag", "Tag one article", "sectors and agreement type" + NOT_ENGLISH,
          body=TagRequest)
def tag():
    """Tag one article: every head's labels and scores."""
    model = current_model().ready_model()
    req = declared_body(model.heads, parse_json())
    check_article(req.title, req.text)
    answer = model.tagger.tag([(req.title, req.text)], explain=req.explain,
                              threshold=req.threshold, limit=req.limit)[0]
    current_app.extensions["tagsim.metrics"].count_labels(answer, model.heads)
    return {"model_version": model.version, **answer, **language_warning(req.title, req.text)}


@endpoint(bp, "POST", "/v1/tag/batch", "Tag many articles", "results in input order" + NOT_ENGLISH,
          body=TagBatchRequest)
def tag_batch():
    """Tag up to 1,000 articles; results in input order, ids echoed."""
    data = parse_json()
    if isinstance(data.get("items"), list) and len(data["items"]) > MAX_BATCH:
        raise TooLarge(f"items has {len(data['items'])} entries; the limit is {MAX_BATCH}")
    model = current_model().ready_model()
    req = declared_body(model.heads, data)
    for i, item in enumerate(req.items):
        check_article(item.title, item.text, f"items[{i}].")
    answers = model.tagger.tag([(i.title, i.text) for i in req.items], req.explain,
                               threshold=req.threshold, limit=req.limit)
    for answer in answers:
        current_app.extensions["tagsim.metrics"].count_labels(answer, model.heads)
    results = [({"id": item.id} if item.id is not None else {}) | answer
               | language_warning(item.title, item.text)
               for item, answer in zip(req.items, answers, strict=True)]
    return {"model_version": model.version, "results": results}


@endpoint(bp, "POST", "/v1/similar", "Similar documents", "best first", body=SimilarRequest,
          documents=True)
def similar():
    """The documents most similar to a text or to a stored document, filtered by label."""
    searcher, stale = current_model().snapshot_searcher()
    heads = searcher.model.heads
    req = declared_body(heads, parse_json())
    if (req.text is None) == (req.id is None):
        raise InvalidInput("send exactly one of 'text' or 'id'")
    if req.id is not None:
        query, exclude = searcher.vector_of(req.id), req.id
    else:
        check_article(req.title, req.text)
        query, exclude = searcher.vectorize(req.title, req.text), None
    fields = req.model_dump(by_alias=True)
    filters = {h.name: fields[h.filter_field] for h in heads if fields[h.filter_field] is not None}
    results = searcher.search(query, req.k, filters, req.min_score, exclude, req.terms)
    return searched({"model_version": searcher.model.version, "results": results}, stale)


@endpoint(bp, "GET", "/v1/documents/<doc_id>/similar", "Documents similar to a stored one",
          "best first", query=SimilarQuery, documents=True)
def document_similar(doc_id):
    """The documents most similar to a stored one, itself excluded, filtered by label."""
    query = declared_query()
    searcher, stale = current_model().snapshot_searcher()
    fields = query.model_dump(by_alias=True)
    filters = {h.name: fields[h.filter_field] for h in searcher.model.heads
               if fields.get(h.filter_field) is not None}
    results = searcher.search(searcher.vector_of(doc_id), query.k, filters, query.min_score,
                              doc_id, query.terms)
    return searched({"model_version": searcher.model.version, "results": results}, stale)


@endpoint(bp, "POST", "/v1/documents", "Store a document", "stored" + NOT_ENGLISH, status=201,
          body=DocumentIn, writes=True)
def add_document():
    """Store a document with the labels given, the others predicted; searchable at once."""
    searcher = current_model().ready_searcher()
    doc = declared_body(searcher.model.heads, parse_json())
    check_text(doc.text)
    doc_id = doc.id or uuid.uuid4().hex
    if searcher.exists(doc_id):
        raise AlreadyExists(f"a document with id {doc_id!r} exists; delete it first or use another id")
    labels, predicted = searcher.add(doc_id, doc.title, doc.text, doc.model_dump(by_alias=True))
    body = jsonify({"id": doc_id, "title": doc.title or "", **labels, "predicted": predicted,
                    "model_version": searcher.model.version,
                    **language_warning(doc.title, doc.text)})
    return body, 201, {"Location": "/v1/documents/" + quote(doc_id, safe="")}


@endpoint(bp, "GET", "/v1/documents/<doc_id>", "A stored document", "the document",
          documents=True)
def get_document(doc_id):
    """A document with its labels, how each head got its label, and its review history."""
    served = current_model()
    searcher = served.ready_searcher()
    doc = searcher.document(doc_id)
    stored = served.documents.get(doc_id) if doc["source"] == "api" else None
    if stored is not None:
        doc = doc | {"text": stored["text"], "labelled": stored["labelled"],
                     "created_at": stored["created_at"]}
    else:
        doc = doc | {"text": searcher.text_of(doc_id)}
    return doc | {"label_status": searcher.review_state(doc_id),
                  "history": [{k: v for k, v in c.items() if k not in ("id", "seq")}
                              for c in served.documents.history(doc_id)]}


@endpoint(bp, "PATCH", "/v1/documents/<doc_id>", "Correct a document's labels (kept in its history)",
          "the corrected document", body=CorrectionIn, writes=True)
def correct_document(doc_id):
    """Correct some heads' labels; appended to the document's history, never overwriting it."""
    searcher = current_model().ready_searcher()
    req = declared_body(searcher.model.heads, parse_json())
    fields = req.model_dump(by_alias=True)
    labels = checked_labels(searcher.model.heads, fields)
    searcher.correct(doc_id, labels, req.reviewer, req.note)
    return get_document(doc_id)


def checked_labels(heads, fields):
    """head name -> labels from a correction's fields; each label must be one of the head's."""
    labels = {head.name: head.normalise(fields[head.name]) for head in heads
              if fields.get(head.name) is not None}
    if not labels:
        raise InvalidInput("send the labels of at least one head: "
                           + ", ".join(h.name for h in heads))
    return labels


@endpoint(bp, "GET", "/v1/review", "Unreviewed documents, least certain first", "the queue",
          query=ReviewQuery, documents=True)
def review_queue():
    """Unreviewed documents of one head, least certain first, with the model's answer and scores."""
    query = declared_query()
    searcher, stale = current_model().snapshot_searcher()
    names = [h.name for h in searcher.model.heads]
    head = query.head or (names[0] if names else "")
    if head not in names:  # the query was checked against the heads served when it arrived
        raise InvalidInput(f"head must be one of {', '.join(names)}, got {head!r}")
    if not searcher.model.scores:
        raise ArtifactError(f"version {searcher.model.version} has no stored scores; "
                            "run 'tagsim index' or 'make train' to make one that has")
    entries, unreviewed, reviewed = searcher.review_queue(head, query.limit)
    if query.text == "1":
        texts = searcher.texts_of([e["id"] for e in entries])  # the added ones in one query
        entries = [e | {"text": texts[e["id"]]} for e in entries]
    return searched({"model_version": searcher.model.version, "head": head,
                     "unreviewed": unreviewed, "reviewed": reviewed, "results": entries}, stale)


@endpoint(bp, "DELETE", "/v1/documents/<doc_id>", "Delete a document", "deleted", status=204,
          writes=True)
def delete_document(doc_id):
    """Delete an added document, or hide a corpus one until the next index build."""
    current_model().ready_searcher().delete(doc_id)
    return Response(status=204)


@endpoint(bp, "POST", "/v1/admin/reload", "Load the current version now (every worker)",
          "the version now served", writes=True)
def admin_reload():
    """Load the current version now here, and within the reload interval in every worker."""
    served = current_model()
    told = served.request_reload()
    if served.problem is not None:
        version = served.searcher.model.version if served.searcher else None
        raise ArtifactError(f"reload failed, still serving {version}: {served.problem}")
    return {"model_version": served.searcher.model.version, "reloaded": True,
            "every_worker": told}


@endpoint(bp, "GET", "/v1/model", "The current model's manifest", "manifest")
def model_info():
    """The served version's manifest."""
    return current_model().ready_model().manifest


@endpoint(bp, "GET", "/healthz", "Liveness", "alive", public=True)
def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}


@endpoint(bp, "GET", "/readyz", "Readiness", "ready", public=True)
def readyz():
    """Readiness: a model and its index are loaded, and the document database answers."""
    try:
        searcher = current_model().ready_searcher()
    except StoreUnavailable as exc:  # who and where the database is: for the log, not anyone
        current_app.logger.error("not ready: %s", exc)
        raise StoreUnavailable("the document database is unavailable; the server log says "
                               "why") from None
    return {"status": "ready", "model_version": searcher.model.version,
            "documents": searcher.visible_count()}


@endpoint(bp, "GET", "/metrics", "Prometheus metrics", "text", media="text/plain")
def metrics():
    """Prometheus metrics of every worker."""
    body, content_type = current_app.extensions["tagsim.metrics"].exposition()
    return Response(body, content_type=content_type)


@endpoint(bp, "GET", "/openapi.json", "This document", "spec", public=True)
def openapi():
    """The OpenAPI 3 document, with the served model's heads and labels."""
    searcher = current_model().searcher
    heads = () if searcher is None else searcher.model.heads
    return openapi_spec(current_app.config.get("API_VERSION", "1"), heads)
