"""Request bodies as pydantic models: validation and the OpenAPI document come from here.

The fields that name a head (the filters of /v1/similar, the labels of /v1/documents)
are those of the served model: `head_requests` adds them to the base models, one per
head of its manifest, restricted to that head's labels.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    create_model,
)

from model.errors import ArtifactError
from model.tagger import HeadSpec

MAX_K = 100
MAX_BATCH = 1000
MAX_TERMS = 10_000
# Texts need a letter or digit (else 422); the pattern documents it without enforcing it here.
Text = Annotated[StrictStr, Field(json_schema_extra={"pattern": r"\w"},
                                  description="at least one letter or digit")]
DocId = Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/]+$",
                                   description="1-200 characters, no '/' or control characters")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Cut = Annotated[float, Field(ge=0.0, le=1.0)]


class OperatingPoint(_Strict):
    """How many labels a multi-label head gives: by default its tuned thresholds."""

    threshold: Cut | dict[StrictStr, Cut] | None = Field(None, description=(
        "a label fires at this probability instead of its tuned threshold: one number for "
        "every label of the multi-label heads, or an object of label -> number"))
    limit: StrictInt | None = Field(None, ge=1, description=(
        "at most this many labels per multi-label head, the most probable first"))


class TagRequest(OperatingPoint):
    """Tag one article."""

    text: Text
    title: StrictStr | None = None
    explain: StrictBool = Field(False, description="add the top terms behind each label")


class TagItem(_Strict):
    """One article of a batch."""

    id: DocId | None = None
    text: Text
    title: StrictStr | None = None


class TagBatchRequest(OperatingPoint):
    """Tag up to 1,000 articles; results keep the input order."""

    items: list[TagItem] = Field(min_length=1)
    explain: StrictBool = False


class SimilarRequest(_Strict):
    """Find similar documents to a text or to a stored document (exactly one of the two).

    The served model adds a filter per head (`head_requests`).
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "oneOf": [{"required": [f], "properties": {f: {"type": "string"}}} for f in ("text", "id")]})

    text: Text | None = None
    title: StrictStr | None = None
    id: DocId | None = None
    k: StrictInt = Field(10, ge=1, le=MAX_K, description="how many results")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="drop results scoring less")
    terms: StrictInt = Field(10, ge=0, le=MAX_TERMS, description=(
        "shared terms listed per result, largest first; with enough of them their "
        "weights add up to the score"))


class DocumentIn(_Strict):
    """A document to store; labels not given are predicted.

    The served model adds a label field per head (`head_requests`).
    """

    id: DocId | None = None
    title: StrictStr | None = None
    text: Text


class HeadRequests(NamedTuple):
    """The request models of a model with given heads."""

    similar: type[SimilarRequest]
    document: type[DocumentIn]
    tag: type[TagRequest]
    tag_batch: type[TagBatchRequest]


@functools.lru_cache(maxsize=16)
def head_requests(heads: tuple[HeadSpec, ...]) -> HeadRequests:
    """`SimilarRequest` and `DocumentIn` with a field per head of a model.

    /v1/similar gets each head's ``filter_field`` (one of its labels), /v1/documents
    each head's ``name`` (its labels: a list for a multi-label head). Read them with
    ``model_dump(by_alias=True)``. Raises `ArtifactError` when a head's field would
    clash with another field, so such a model is not served.
    """
    similar = _with_heads(SimilarRequest, heads, lambda h: h.filter_field, lambda h: (
        _label(h), f"only documents whose {h.name} include this label"))
    document = _with_heads(DocumentIn, heads, lambda h: h.name, lambda h: (
        list[_label(h)] if h.multilabel else _label(h),
        f"the {h.name} labels (predicted when left out)"))
    labels = [label for head in heads if head.multilabel for label in head.labels]
    cut = {"type": "number", "minimum": 0.0, "maximum": 1.0}
    threshold = (Cut | Annotated[dict[StrictStr, Cut], WithJsonSchema({
        "type": "object", "properties": {label: cut for label in labels},
        "additionalProperties": False})] | None,
        OperatingPoint.model_fields["threshold"])
    tag, tag_batch = (create_model(base.__name__, __base__=base, __doc__=base.__doc__,
                                   threshold=threshold) for base in (TagRequest, TagBatchRequest))
    return HeadRequests(similar, document, tag, tag_batch)


def _label(head):
    return Literal[head.labels] if head.labels else StrictStr


def _with_heads(base, heads, field_of, type_of):
    taken = {field.alias or name for name, field in base.model_fields.items()}
    fields = {}
    for i, head in enumerate(heads):
        name = field_of(head)
        if name in taken:
            raise ArtifactError(f"head {head.name!r} would add the field {name!r} to "
                                f"{base.__name__}, which has one; retrain with another label field")
        taken.add(name)
        annotation, description = type_of(head)
        fields[f"head_{i}"] = (annotation | None, Field(None, alias=name, description=description))
    return create_model(base.__name__, __base__=base, __doc__=base.__doc__, **fields)


def _error_schema():
    return {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}


def openapi_spec(version: str, heads: tuple[HeadSpec, ...] = ()) -> dict:
    """The OpenAPI 3 document of the HTTP API, built from the models above.

    *heads* (the served model's) add their filter and label fields, with their labels.
    """
    similar, document, tag, tag_batch = head_requests(tuple(heads))
    models = [tag, TagItem, tag_batch, similar, document]
    schemas = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = _error_schema()

    def body(name):
        return {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{name}"}}}}

    def answer(description, code="200"):
        error = {"description": "error", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
        return {code: {"description": description, "content": {"application/json": {
            "schema": {"type": "object"}}}}, "4XX": error, "503": error}

    doc_id = [{"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    k_param = [{"name": "k", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}},
               {"name": "terms", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TERMS,
                           "default": 10}}]
    paths = {
        "/v1/tag": {"post": {"summary": "Tag one article", "requestBody": body("TagRequest"),
                             "responses": answer("sectors and agreement type")}},
        "/v1/tag/batch": {"post": {"summary": "Tag many articles",
                                   "requestBody": body("TagBatchRequest"),
                                   "responses": answer("results in input order")}},
        "/v1/similar": {"post": {"summary": "Similar documents",
                                 "requestBody": body("SimilarRequest"),
                                 "responses": answer("best first")}},
        "/v1/documents": {"post": {"summary": "Store a document",
                                   "requestBody": body("DocumentIn"),
                                   "responses": answer("stored", "201")}},
        "/v1/documents/{doc_id}": {
            "get": {"summary": "A stored document", "parameters": doc_id,
                    "responses": answer("the document")},
            "delete": {"summary": "Delete a document", "parameters": doc_id,
                       "responses": {"204": {"description": "deleted"},
                                     **{k: v for k, v in answer("").items() if k != "200"}}}},
        "/v1/documents/{doc_id}/similar": {"get": {
            "summary": "Documents similar to a stored one", "parameters": doc_id + k_param,
            "responses": answer("best first")}},
        "/v1/admin/reload": {"post": {"summary": "Load the current version now (this worker)",
                                      "responses": answer("the version now served")}},
        "/v1/model": {"get": {"summary": "The current model's manifest",
                              "responses": answer("manifest")}},
        "/healthz": {"get": {"summary": "Liveness", "responses": answer("alive")}},
        "/readyz": {"get": {"summary": "Readiness", "responses": answer("ready")}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
            "200": {"description": "text", "content": {"text/plain": {"schema": {
                "type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": answer("spec")}},
    }
    return {"openapi": "3.0.3",
            "info": {"title": "tagsim", "version": version,
                     "description": "Tags technology and cooperation-deal articles by sector "
                                    "and agreement type, and finds similar articles."},
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "needed for writes when TAGSIM_API_TOKEN is set, "
                                          "and for reads when TAGSIM_READ_TOKEN is set"}}},
            "security": [{}, {"bearer": []}]}
