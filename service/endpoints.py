"""Each endpoint declared once: its route, body, query parameters, auth and OpenAPI entry.

A view is registered with `endpoint`, which adds its Flask route and its `Endpoint` to
`ENDPOINTS`. Everything else is generated from that table: the token check
(service/auth.py reads ``writes`` and ``public``), the validation of the query string
(`check_query`, with the same 400 shape as bodies), the body a view reads
(`declared_body`) and the OpenAPI document (`openapi_spec`). Adding an endpoint is one
decorated function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import g, request
from pydantic import BaseModel, ValidationError

from model.errors import InvalidInput
from service.field_errors import describe
from service.schemas import head_requests


@dataclass(frozen=True)
class Endpoint:
    """One operation of the HTTP API."""

    method: str
    rule: str                 # the Flask rule, e.g. /v1/documents/<doc_id>
    summary: str              # its OpenAPI summary
    answer: str               # what its success answer holds
    status: int = 200
    body: type[BaseModel] | None = None   # the JSON body (a `service.schemas` model)
    query: type[BaseModel] | None = None  # the query string (a `service.schemas` model)
    writes: bool = False      # changes data: needs the write token when tokens are set
    public: bool = False      # open even when tokens are set (probes, the spec, the page)
    documents: bool = False   # answers with stored documents: needs a token once any is set
    media: str = "application/json"

    @property
    def path(self) -> str:
        """The OpenAPI path: ``<name>`` becomes ``{name}``."""
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)


ENDPOINTS: dict[str, Endpoint] = {}  # Flask endpoint name (blueprint.view) -> declaration


def endpoint(bp, method, rule, summary, answer, **options):
    """Register the decorated view on *bp* at *method* *rule*, declared as an `Endpoint`."""
    declared = Endpoint(method, rule, summary, answer, **options)

    def register(view):
        ENDPOINTS[f"{bp.name}.{view.__name__}"] = declared
        bp.add_url_rule(rule, view_func=view, methods=[method])
        return view

    return register


def current_endpoint() -> Endpoint | None:
    """The declaration of the endpoint this request reached (None: 404, 405, static files)."""
    return ENDPOINTS.get(request.endpoint) if request.endpoint else None


def public_paths() -> set[str]:
    """Paths open to anyone, whatever the method (so a wrong one is a 405, not a 401)."""
    return {e.rule for e in ENDPOINTS.values() if e.public}


def validated(schema, data, where=""):
    """*data* checked against a request model; the first problem becomes a 400 in the API's words."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe(exc, schema, data, where)) from None


def _heads():
    from flask import current_app

    searcher = current_app.extensions["tagsim"].searcher
    return () if searcher is None else tuple(searcher.model.heads)


def check_query():
    """Validate the query string against the endpoint's declared model (before the view)."""
    declared = current_endpoint()
    if declared is None:
        return
    model = head_requests(_heads()).of(declared.query) if declared.query else None
    takes = {} if model is None else {f.alias or n: n for n, f in model.model_fields.items()}
    for name in request.args:
        if name not in takes:
            raise InvalidInput(f"unknown query parameter {name!r}; this endpoint takes: "
                               + (", ".join(sorted(takes)) or "none"))
        if len(values := request.args.getlist(name)) > 1:
            raise InvalidInput(f"query parameter {name!r} is given {len(values)} times; "
                               "give it once")
    if model is not None:
        g.query = validated(model, request.args.to_dict(), "query parameter ")


def declared_query():
    """This request's validated query parameters (see `check_query`)."""
    return g.query


def declared_body(heads, data):
    """*data*, the parsed JSON body, validated by the endpoint's body model for *heads*."""
    return validated(head_requests(tuple(heads)).of(current_endpoint().body), data)


def install(app):
    """Check every request's query string against its endpoint's declaration."""
    app.before_request(check_query)


# -- the OpenAPI document ------------------------------------------------------------------

def _error_schema():
    return {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}


def _without_null(schema):
    """A query parameter's schema: a missing parameter, not null, stands for None."""
    options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    if schema.get("default", 0) is None:
        del schema["default"]
    schema.pop("title", None)
    return schema


def _parameters(declared, query_model):
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"<(?:\w+:)?(\w+)>", declared.rule)]
    if query_model is not None:
        schema = query_model.model_json_schema()
        for name, prop in schema["properties"].items():
            description = prop.pop("description", None)
            params.append({"name": name, "in": "query",
                           "required": name in schema.get("required", ()),
                           **({"description": description} if description else {}),
                           "schema": _without_null(prop)})
    return params


def _responses(declared):
    error = {"description": "error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    if declared.media != "application/json":
        return {str(declared.status): {"description": declared.answer, "content": {
            declared.media: {"schema": {"type": "string"}}}}}
    ok = {"description": declared.answer}
    if declared.status != 204:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    return {str(declared.status): ok, "4XX": error, "503": error}


def openapi_spec(version: str, heads=()) -> dict:
    """The OpenAPI 3 document of every declared endpoint, with the served model's *heads*.

    *heads* add their filter and label fields, with their labels, to the models.
    """
    from service import api, web  # noqa: F401  (importing them declares their endpoints)

    models = head_requests(tuple(heads))
    schemas = {}
    for model in models.bodies():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = _error_schema()
    if heads:  # a correction names at least one head (checked by the view)
        schemas[models.correction.__name__]["anyOf"] = [
            {"required": [h.name], "properties": {h.name: {
                "type": "array" if h.multilabel else "string"}}} for h in heads]
    paths = {}
    for declared in ENDPOINTS.values():
        operation = {"summary": declared.summary}
        parameters = _parameters(declared, models.of(declared.query) if declared.query else None)
        if parameters:
            operation["parameters"] = parameters
        if declared.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{models.of(declared.body).__name__}"}}}}
        operation["responses"] = _responses(declared)
        paths.setdefault(declared.path, {})[declared.method.lower()] = operation
    return {"openapi": "3.0.3",
            "info": {"title": "tagsim", "version": version,
                     "description": "Tags technology and cooperation-deal articles by sector "
                                    "and agreement type, and finds similar articles."},
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "needed for writes when TAGSIM_API_TOKEN or "
                                          "TAGSIM_READ_TOKEN is set (the API token when both "
                                          "are), and for reads when TAGSIM_READ_TOKEN is set"}}},
            "security": [{}, {"bearer": []}]}
