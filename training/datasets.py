"""Read labelled datasets (JSONL, JSONL.gz, CSV, Parquet) and validate every record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from model.documents import open_documents
from model.errors import InvalidInput
from model.features import document_text
from model.records import DEFAULT_TEXT_FIELDS, kind_of, validated_records
from model.review import reviewed_labels
from model.store import sha256_of
from model.tagger import HeadSpec

# The product's heads: the taxonomy of data/LABELS.md, enforced when they are trained by
# default, and the names the HTTP API has always given them. Every other head is named
# after its label field.
DEFAULT_HEADS = (
    HeadSpec("sectors", True, ("biomed", "clean_energy", "digital", "fintech", "policy"),
             filter_field="sector", scores_field="sector_scores"),
    HeadSpec("agreement_type", False, ("acquisition", "investment", "joint_venture",
                                       "letter_of_intent", "licensing",
                                       "memorandum_of_understanding", "none",
                                       "strategic_partnership"),
             scores_field="agreement_scores"),
)
DEFAULT_LABEL_FIELDS = tuple(head.name for head in DEFAULT_HEADS)
TAXONOMY = {head.name: head.labels for head in DEFAULT_HEADS}
_PRODUCT_NAMES = {head.name: head for head in DEFAULT_HEADS}


@dataclass
class Dataset:
    """Validated records with their joined texts and one target list per head."""

    path: Path
    sha256: str
    ids: list[str]
    titles: list[str]
    texts: list[str]
    specs: list[HeadSpec]
    targets: dict[str, list] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    def __len__(self):
        return len(self.ids)

    def subset(self, rows):
        """The same dataset restricted to *rows* (a list of indices)."""
        return Dataset(self.path, self.sha256, [self.ids[i] for i in rows],
                       [self.titles[i] for i in rows], [self.texts[i] for i in rows], self.specs,
                       {k: [v[i] for i in rows] for k, v in self.targets.items()},
                       [self.records[i] for i in rows])


def load_dataset(path, text_fields=DEFAULT_TEXT_FIELDS, label_fields=None, where=None,
                 allow_empty=False, labels=None):
    """Read and validate a dataset.

    Text fields are optional strings, but each record needs text in one of them. Each
    label field is one head: list values make it multi-label, string values
    single-label, and every record must agree. With no *label_fields* the default
    heads are used and their labels must come from the taxonomy; *labels* (field ->
    allowed labels, e.g. those of a trained model's heads) restricts others.

    *where* (``"field=value"``) keeps only the records whose field has that value.
    *allow_empty* accepts records with no text at all (public benchmarks have a few;
    they are scored like any other, from nothing).

    Raises `InvalidInput` naming the file, line and field of the first bad record.
    """
    path = Path(path)
    text_fields = tuple(text_fields)
    defaulted = label_fields is None
    label_fields = tuple(DEFAULT_LABEL_FIELDS if defaulted else label_fields)
    allowed = TAXONOMY if defaulted else labels or {}
    ids, titles, texts, records = [], [], [], []
    values = {f: [] for f in label_fields}
    kinds: dict[str, tuple[bool, int]] = {}
    for n, rid, title, text, record in validated_records(path, text_fields, where, allow_empty):
        at = f"{path}, line {n}"
        for name in label_fields:
            values[name].append(_label_value(at, name, record.get(name), kinds, n,
                                             allowed.get(name)))
        ids.append(rid)
        titles.append(title)
        texts.append(text)
        records.append(record)
    specs = []
    for name in label_fields:
        multilabel = kinds[name][0]
        seen_labels = {v for vs in values[name] for v in vs} if multilabel else set(values[name])
        specs.append(_head(name, multilabel, seen_labels))
    return Dataset(path, sha256_of(path), ids, titles, texts, specs, values, records)


def with_labelled_documents(dataset, home, log=print, url=None, timeout=5.0):
    """*dataset* plus the documents clients added to *home* with labels for each of its heads.

    They are read from the PostgreSQL database at *url* when given (see `open_documents`).

    A stored document replaces a record with the same id. Labels a head cannot take
    (outside the taxonomy of a product head, possible only if the taxonomy changed
    since) make the document skipped with a note.
    """
    store = open_documents(home, url, timeout)
    if store.is_empty():
        return dataset
    documents = store.labelled()
    if not documents:
        return dataset
    rows = {doc_id: i for i, doc_id in enumerate(dataset.ids)}
    added = replaced = 0
    extended = dataset.subset(range(len(dataset)))
    for doc in documents:
        labels = doc["labels"]
        wrong = [s.name for s in dataset.specs if not _takes(s, labels.get(s.name))]
        if wrong:
            log(f"skipping stored document {doc['id']!r}: its {', '.join(wrong)} labels are not "
                "labels of this training's heads")
            continue
        values = {s.name: _normalised(s, labels[s.name]) for s in dataset.specs}
        text = document_text(doc["title"], doc["text"])
        i = rows.get(doc["id"])
        if i is None:
            extended.ids.append(doc["id"])
            extended.titles.append(doc["title"])
            extended.texts.append(text)
            extended.records.append({"id": doc["id"], "title": doc["title"], "text": doc["text"],
                                     **values})
            for name, value in values.items():
                extended.targets[name].append(value)
            added += 1
        else:
            extended.titles[i], extended.texts[i] = doc["title"], text
            for name, value in values.items():
                extended.targets[name][i] = value
            replaced += 1
    log(f"added {added} and replaced {replaced} records with labelled documents from "
        f"{store.location}")
    extended.specs = [_head(s.name, s.multilabel, {
        v for vs in extended.targets[s.name] for v in (vs if s.multilabel else [vs])})
        for s in dataset.specs]
    return extended


def with_corrections(dataset, home, log=print, url=None, timeout=5.0):
    """*dataset* with the reviewers' corrections stored in *home* applied, and a summary.

    A correction wins over the record's label for the heads it corrects (the latest
    correction of a head wins). A document added through the API without labels joins
    when every head of this training has been reviewed. The corrections are read in one
    query, so one made while this runs waits, whole, for the next run. The summary
    (for the manifest) counts the documents whose labels came from a review, per head
    and per reviewer, and names the last correction read.
    """
    summary = {"documents": 0, "per_head": {}, "per_reviewer": {}, "through_seq": 0}
    store = open_documents(home, url, timeout)
    if store.is_empty():
        return dataset, summary
    corrections = store.corrections_since(0)
    if not corrections:
        return dataset, summary
    summary["through_seq"] = corrections[-1]["seq"]
    out = dataset.subset(range(len(dataset)))
    rows = {doc_id: i for i, doc_id in enumerate(out.ids)}
    specs = {s.name: s for s in out.specs}
    skipped = 0
    for doc_id, heads in reviewed_labels(corrections).items():
        usable = {h: r for h, r in heads.items() if h in specs and _takes(specs[h], r["labels"])}
        i = rows.get(doc_id)
        if i is None:
            stored = store.get(doc_id)
            if stored is None or set(usable) != set(specs):
                skipped += 1
                continue
            i = rows[doc_id] = len(out.ids)
            out.ids.append(doc_id)
            out.titles.append(stored["title"])
            out.texts.append(document_text(stored["title"], stored["text"]))
            out.records.append({"id": doc_id, "title": stored["title"], "text": stored["text"]})
            for name in specs:
                out.targets[name].append(None)
        for name, review in usable.items():
            value = review["labels"]
            out.targets[name][i] = _normalised(specs[name], value)
            summary["per_head"][name] = summary["per_head"].get(name, 0) + 1
            who = review["reviewer"] or "(anonymous)"
            summary["per_reviewer"][who] = summary["per_reviewer"].get(who, 0) + 1
        summary["documents"] += bool(usable)
    log(f"applied the corrections of {summary['documents']} documents from "
        f"{store.location}"
        + (f"; {skipped} corrected documents are neither in the data nor fully reviewed"
           if skipped else ""))
    out.specs = [_head(s.name, s.multilabel, {
        v for vs in out.targets[s.name] for v in (vs if s.multilabel else [vs])})
        for s in dataset.specs]
    return out, summary


def _takes(spec, value):
    """Whether a stored document's *value* can train *spec* (see `_normalised`)."""
    try:
        _normalised(spec, value)
    except InvalidInput:
        return False
    return True


def _normalised(spec, value):
    """*value* checked as `HeadSpec.normalise` does: against the taxonomy for a product
    head, as any non-empty labels of the right kind for another."""
    product = _PRODUCT_NAMES.get(spec.name)
    if product is None:
        return spec.normalise(value, known=False)
    if product.multilabel != spec.multilabel:
        raise InvalidInput(f"field {spec.name!r}: this head is not the product's {spec.name}")
    return product.normalise(value)


def _head(name, multilabel, labels):
    """A head over *labels*, with the API names of the product's head of that name, if any."""
    product = _PRODUCT_NAMES.get(name)
    names = {} if product is None else {"filter_field": product.filter_field,
                                        "scores_field": product.scores_field}
    return HeadSpec(name, multilabel, tuple(sorted(labels)), **names)


def _label_value(where, name, value, kinds, n, allowed):
    if value is None:
        raise InvalidInput(f"{where}, field {name!r}: missing")
    if isinstance(value, list):
        bad = [v for v in value if not isinstance(v, str) or not v]
        if bad:
            raise InvalidInput(f"{where}, field {name!r}: labels must be non-empty strings, got {bad[0]!r}")
        labels = list(dict.fromkeys(value))
    elif isinstance(value, str) and value:
        labels = [value]
    else:
        raise InvalidInput(f"{where}, field {name!r}: expected a label or a list of labels, "
                           f"got {kind_of(value) if value != '' else 'an empty string'}")
    multilabel = isinstance(value, list)
    first = kinds.setdefault(name, (multilabel, n))
    if first[0] != multilabel:
        want = "a list of labels" if first[0] else "a single label (a string)"
        raise InvalidInput(f"{where}, field {name!r}: expected {want} as on line {first[1]}, "
                           f"got {kind_of(value)}")
    if allowed is not None:
        unknown = [v for v in labels if v not in allowed]
        if unknown:
            raise InvalidInput(f"{where}, field {name!r}: unknown label {unknown[0]!r}; "
                               f"expected one of {', '.join(allowed)}")
    return labels if multilabel else labels[0]
