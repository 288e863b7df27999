"""Request bodies and query strings as pydantic models: validation and OpenAPI come from here.

The fields that name a head (the filters of /v1/similar, the labels of /v1/documents)
are those of the served model: `head_requests` adds them to the base models, one per
head of its manifest, restricted to that head's labels.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
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
MAX_REVIEW = 500
# Texts need a letter or digit (else 422); the pattern documents it without enforcing it here.
Text = Annotated[StrictStr, Field(json_schema_extra={"pattern": r"\w"},
                                  description="at least one letter or digit")]


def _addressable(doc_id: str) -> str:
    # '.', '..', blanks, '/' and control characters would be stored, but no URL could
    # fetch or delete them again. The messages follow the field's name (service/field_errors.py).
    if control := next((c for c in doc_id if ord(c) < 0x20), None):
        raise ValueError(f"must not contain control characters (found U+{ord(control):04X})")
    if "/" in doc_id:
        raise ValueError("must not contain '/': no URL could reach it")
    if doc_id in (".", "..") or not doc_id.strip():
        raise ValueError("must not be '.', '..' or only spaces: no URL could reach it")
    return doc_id


DocId = Annotated[StrictStr, Field(
    min_length=1, max_length=200,
    json_schema_extra={"pattern": r"^(?!\.{1,2}$)(?=.*\S)[^\x00-\x1f/]+$"},
    description="1-200 characters, no '/' or control characters, not '.', '..' or only spaces"),
    AfterValidator(_addressable)]


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


# A title with an empty text is a valid training record, so it is a valid article to tag:
# the two together need one word (service/api.py, check_article).
ArticleText = Annotated[StrictStr, Field(description=(
    "the article's body; may be empty when the title has words"))]
# The schema's way of saying "words in the text or in the title".
_WORDS_SOMEWHERE = {"anyOf": [{"required": [f], "properties": {f: {"type": "string", "pattern": r"\w"}}}
                              for f in ("text", "title")]}


class TagRequest(OperatingPoint):
    """Tag one article."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_WORDS_SOMEWHERE)

    text: ArticleText = ""
    title: StrictStr | None = None
    explain: StrictBool = Field(False, description="add the top terms behind each label")


class TagItem(_Strict):
    """One article of a batch."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_WORDS_SOMEWHERE)

    id: DocId | None = None
    text: ArticleText = ""
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


class CorrectionIn(_Strict):
    """A reviewer's correction of a document's labels (at least one head).

    The served model adds a label field per head (`head_requests`); labels are checked
    against the head's by the view, so an unknown one is named in the error.
    """

    reviewer: StrictStr | None = Field(None, max_length=200, description=(
        "who reviewed: a free string kept with the correction, not a checked identity"))
    note: StrictStr | None = Field(None, max_length=2000)


def _whole_number(value):
    # int() would take "+5", " 5" or "²"; a query parameter's number is digits only.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError(f"must be a whole number (digits only); got {value!r}")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class _Query(BaseModel):
    """A query string: its values arrive as strings and are parsed; no other names."""

    model_config = ConfigDict(extra="forbid")


class SimilarQuery(_Query):
    """The options of GET /v1/documents/<id>/similar; the served model adds a filter per head."""

    k: WholeNumber = Field(10, ge=1, le=MAX_K, description="how many results")
    terms: WholeNumber = Field(10, ge=0, le=MAX_TERMS,
                               description="shared terms listed per result, largest first")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="drop results scoring less")


class ReviewQuery(_Query):
    """The options of GET /v1/review; the served model's heads are the values of ``head``."""

    head: StrictStr | None = Field(None, description="whose queue (default: the first head)")
    limit: WholeNumber = Field(20, ge=1, le=MAX_REVIEW, description="how many documents")
    text: Literal["0", "1"] = Field("0", description="1: add texts")


class HeadRequests(NamedTuple):
    """The request models of a model with given heads."""

    similar: type[SimilarRequest]
    document: type[DocumentIn]
    tag: type[TagRequest]
    tag_batch: type[TagBatchRequest]
    correction: type[CorrectionIn]
    similar_query: type[SimilarQuery]
    review_query: type[ReviewQuery]

    def of(self, base: type[BaseModel]) -> type[BaseModel]:
        """This model's version of the request model *base* (declared by an endpoint)."""
        return next(model for model in self if issubclass(model, base))

    def bodies(self) -> tuple[type[BaseModel], ...]:
        """The JSON body models, for the OpenAPI document's schemas."""
        return (self.tag, TagItem, self.tag_batch, self.similar, self.document, self.correction)


@functools.lru_cache(maxsize=16)
def head_requests(heads: tuple[HeadSpec, ...]) -> HeadRequests:
    """The request models with a field per head of a model.

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
    correction = _with_heads(CorrectionIn, heads, lambda h: h.name, lambda h: (
        list[_documented_label(h)] if h.multilabel else _documented_label(h),
        f"the reviewed {h.name} labels"))
    labels = [label for head in heads if head.multilabel for label in head.labels]
    cut = {"type": "number", "minimum": 0.0, "maximum": 1.0}
    threshold = (Cut | Annotated[dict[StrictStr, Cut], WithJsonSchema({
        "type": "object", "properties": {label: cut for label in labels},
        "additionalProperties": False})] | None,
        OperatingPoint.model_fields["threshold"])
    tag, tag_batch = (create_model(base.__name__, __base__=base, __doc__=base.__doc__,
                                   threshold=threshold) for base in (TagRequest, TagBatchRequest))
    similar_query = _with_heads(SimilarQuery, heads, lambda h: h.filter_field, lambda h: (
        _label(h), f"only documents whose {h.name} include this label"))
    review_query = create_model(ReviewQuery.__name__, __base__=ReviewQuery, __doc__=ReviewQuery.__doc__,
                                head=(Literal[tuple(h.name for h in heads)] | None,
                                      ReviewQuery.model_fields["head"])) if heads else ReviewQuery
    return HeadRequests(similar, document, tag, tag_batch, correction, similar_query, review_query)


def _documented_label(head):
    """A string the schema says is one of the head's labels; the view checks it, naming a bad one."""
    if not head.labels:
        return StrictStr
    return Annotated[StrictStr, Field(json_schema_extra={"enum": list(head.labels)})]


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
