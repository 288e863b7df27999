"""The HTTP routes: parse and validate, call the model, serialise."""

from __future__ import annotations

import json
import uuid

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from model.errors import ArtifactError, InvalidInput
from model.features import require_words
from service.errors import BadJson, Conflict, RequestTimeout, TooLarge, UnsupportedMediaType
from service.schemas import (
    MAX_BATCH,
    MAX_K,
    MAX_REVIEW,
    MAX_TERMS,
    head_requests,
    openapi_spec,
    query_parameters,
)

bp = Blueprint("api", __name__)


def current_model():
    """The `CurrentModel` of this app."""
    return current_app.extensions["tagsim"]


@bp.before_request
def known_query_parameters():
    """400 for a query parameter the endpoint does not take, rather than ignoring it."""
    if not request.args or request.url_rule is None:
        return
    searcher = current_model().searcher
    heads = () if searcher is None else searcher.model.heads
    path = request.url_rule.rule.replace("<", "{").replace(">", "}")
    allowed = query_parameters(tuple(heads)).get(path)
    unknown = sorted(set(request.args) - (allowed or set()))
    if allowed is not None and unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}; this endpoint takes: {takes}")


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
    except OSError:  # the client stopped sending; service/worker.py times sockets out
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


def validated(schema, data):
    """*data* checked against a request model; the first problem becomes a 400."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"field {where!r}: {first['msg']}") from None


def check_text(text, field="text"):
    """Length limit (413) and at least one word (422)."""
    limit = current_app.extensions["tagsim.settings"].max_text_chars
    if len(text) > limit:
        raise TooLarge(f"{field} has {len(text)} characters; the limit is {limit}")
    require_words(text, field)


@bp.post("/v1/tag")
def tag():
    """Tag one article: every head's labels and scores."""
    model = current_model().ready_model()
    req = validated(head_requests(model.heads).tag, parse_json())
    check_text(req.text)
    answer = model.tagger.tag([(req.title, req.text)], explain=req.explain,
                              threshold=req.threshold, limit=req.limit)[0]
    current_app.extensions["tagsim.metrics"].count_labels(answer, model.heads)
    return {"model_version": model.version, **answer}


@bp.post("/v1/tag/batch")
def tag_batch():
    """Tag up to 1,000 articles; results in input order, ids echoed."""
    data = parse_json()
    if isinstance(data.get("items"), list) and len(data["items"]) > MAX_BATCH:
        raise TooLarge(f"items has {len(data['items'])} entries; the limit is {MAX_BATCH}")
    model = current_model().ready_model()
    req = validated(head_requests(model.heads).tag_batch, data)
    for i, item in enumerate(req.items):
        check_text(item.text, f"items[{i}].text")
    answers = model.tagger.tag([(i.title, i.text) for i in req.items], req.explain,
                               threshold=req.threshold, limit=req.limit)
    for answer in answers:
        current_app.extensions["tagsim.metrics"].count_labels(answer, model.heads)
    results = [({"id": item.id} if item.id is not None else {}) | answer
               for item, answer in zip(req.items, answers, strict=True)]
    return {"model_version": model.version, "results": results}


def int_arg(name, default, low, high):
    """A whole-number query-string argument within [low, high]."""
    raw = request.args.get(name, str(default))
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number between {low} and {high}, got {raw!r}")
    return int(raw)


@bp.post("/v1/similar")
def similar():
    """The documents most similar to a text or to a stored document, filtered by label."""
    searcher = current_model().ready_searcher()
    heads = searcher.model.heads
    req = validated(head_requests(heads).similar, parse_json())
    if (req.text is None) == (req.id is None):
        raise InvalidInput("send exactly one of 'text' or 'id'")
    if req.id is not None:
        query, exclude = searcher.vector_of(req.id), req.id
    else:
        check_text(req.text)
        query, exclude = searcher.vectorize(req.title, req.text), None
    fields = req.model_dump(by_alias=True)
    filters = {h.name: fields[h.filter_field] for h in heads if fields[h.filter_field] is not None}
    results = searcher.search(query, req.k, filters, req.min_score, exclude, req.terms)
    return {"model_version": searcher.model.version, "results": results}


def score_arg(name):
    """A number in [0, 1] from the query string (0 when absent)."""
    raw = request.args.get(name, "0")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise InvalidInput(f"{name} must be a number between 0 and 1, got {raw!r}")
    return value


@bp.get("/v1/documents/<doc_id>/similar")
def document_similar(doc_id):
    """The documents most similar to a stored one, itself excluded, filtered by label."""
    k, terms = int_arg("k", 10, 1, MAX_K), int_arg("terms", 10, 0, MAX_TERMS)
    min_score = score_arg("min_score")
    searcher = current_model().ready_searcher()
    filters = {h.name: request.args[h.filter_field] for h in searcher.model.heads
               if h.filter_field in request.args}
    results = searcher.search(searcher.vector_of(doc_id), k, filters, min_score, doc_id, terms)
    return {"model_version": searcher.model.version, "results": results}


@bp.post("/v1/documents")
def add_document():
    """Store a document with the labels given, the others predicted; searchable at once."""
    searcher = current_model().ready_searcher()
    doc = validated(head_requests(searcher.model.heads).document, parse_json())
    check_text(doc.text)
    doc_id = doc.id or uuid.uuid4().hex
    if searcher.exists(doc_id):
        raise Conflict(f"a document with id {doc_id!r} exists; delete it first or use another id")
    labels, predicted = searcher.add(doc_id, doc.title, doc.text, doc.model_dump(by_alias=True))
    body = jsonify({"id": doc_id, "title": doc.title or "", **labels, "predicted": predicted,
                    "model_version": searcher.model.version})
    return body, 201, {"Location": f"/v1/documents/{doc_id}"}


@bp.get("/v1/documents/<doc_id>")
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


@bp.patch("/v1/documents/<doc_id>")
def correct_document(doc_id):
    """Correct some heads' labels; appended to the document's history, never overwriting it."""
    searcher = current_model().ready_searcher()
    req = validated(head_requests(searcher.model.heads).correction, parse_json())
    fields = req.model_dump(by_alias=True)
    labels = checked_labels(searcher.model.heads, fields)
    searcher.correct(doc_id, labels, req.reviewer, req.note)
    return get_document(doc_id)


def checked_labels(heads, fields):
    """head name -> labels from a correction's fields; each label must be one of the head's."""
    labels = {}
    for head in heads:
        value = fields.get(head.name)
        if value is None:
            continue
        for label in value if head.multilabel else [value]:
            if label not in head.labels:
                raise InvalidInput(f"unknown {head.name} label {label!r}; expected one of "
                                   + ", ".join(head.labels))
        labels[head.name] = sorted(set(value)) if head.multilabel else value
    if not labels:
        raise InvalidInput("send the labels of at least one head: "
                           + ", ".join(h.name for h in heads))
    return labels


@bp.get("/v1/review")
def review_queue():
    """Unreviewed documents of one head, least certain first, with the model's answer and scores."""
    searcher = current_model().ready_searcher()
    names = [h.name for h in searcher.model.heads]
    head = request.args.get("head", names[0] if names else "")
    if head not in names:
        raise InvalidInput(f"head must be one of {', '.join(names)}, got {head!r}")
    if not searcher.model.scores:
        raise ArtifactError(f"version {searcher.model.version} has no stored scores; "
                            "run 'tagsim index' or 'make train' to make one that has")
    limit = int_arg("limit", 20, 1, MAX_REVIEW)
    entries, unreviewed, reviewed = searcher.review_queue(head, limit)
    if request.args.get("text") == "1":
        entries = [e | {"text": searcher.text_of(e["id"])} for e in entries]
    return {"model_version": searcher.model.version, "head": head, "unreviewed": unreviewed,
            "reviewed": reviewed, "results": entries}


@bp.delete("/v1/documents/<doc_id>")
def delete_document(doc_id):
    """Delete an added document, or hide a corpus one until the next index build."""
    current_model().ready_searcher().delete(doc_id)
    return Response(status=204)


@bp.post("/v1/admin/reload")
def admin_reload():
    """Load the current version now, in this worker; keep the old one if it fails."""
    served = current_model()
    if not served.load():
        version = served.searcher.model.version if served.searcher else None
        raise ArtifactError(f"reload failed, still serving {version}: {served.problem}")
    return {"model_version": served.searcher.model.version, "reloaded": True}


@bp.get("/v1/model")
def model_info():
    """The served version's manifest."""
    return current_model().ready_model().manifest


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: a model and its index are loaded."""
    searcher = current_model().ready_searcher()
    return {"status": "ready", "model_version": searcher.model.version,
            "documents": searcher.visible_count()}


@bp.get("/metrics")
def metrics():
    """Prometheus metrics of every worker."""
    body, content_type = current_app.extensions["tagsim.metrics"].exposition()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document, with the served model's heads and labels."""
    searcher = current_model().searcher
    heads = () if searcher is None else searcher.model.heads
    return openapi_spec(current_app.config.get("API_VERSION", "1"), heads)
