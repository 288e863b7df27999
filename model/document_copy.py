"""Copy what one document store holds into another: a home's SQLite documents into PostgreSQL.

What is copied, per id: the added document (title, text, labels, whether they were
given, when it was added), its corrections with their whole history (those a delete
retired included, still retired), the model's stored scores, and the tombstone of a
deleted corpus document (so that it stays hidden). The target's own sequence numbers
are used: the copy is appended to its change log, so servers already running on the
target pick it up as they pick up any write. Each id's corrections keep their order.

The rule for an id the target already holds (`plan_copy`):

* the same live state (same title, text and labels, or both none; live corrections of
  one continuing the other's): nothing to copy, or only the corrections the home has
  gained since — which is what makes a second run copy nothing;
* the home holds it only deleted: the target's state stands, nothing is copied;
* anything else is a conflict: nothing at all is copied, and every conflict is named.

The whole copy is one transaction of the target, under its writers' lock: it commits
whole, or (conflict, outage, interrupt) leaves the target as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.documents import log_change as _log
from model.errors import InvalidInput

_HEADS = ("documents", "deleted ids", "corrections", "retired corrections", "scores")


@dataclass
class Record:
    """Everything a store holds about one id."""

    document: dict | None = None   # title, text, labels, labelled, created_at, predicted
    last_op: tuple | None = None   # (seq, op) of its last change
    corrections: list = field(default_factory=list)  # dicts, oldest first, with retired_by
    scores: tuple | None = None    # (model version, head -> {label: p})

    @property
    def deleted(self) -> bool:
        return self.last_op is not None and self.last_op[1] == "delete"

    @property
    def live(self) -> list:
        return [c for c in self.corrections if c["retired_by"] is None]

    @property
    def alive(self) -> bool:
        """Whether it holds a document or a correction that counts (not only deleted ones)."""
        return self.document is not None or bool(self.live)


@dataclass
class Plan:
    """What copying would do: ids to copy whole, live corrections to append, conflicts."""

    whole: dict = field(default_factory=dict)     # id -> source Record
    tails: dict = field(default_factory=dict)     # id -> corrections the target lacks
    present: int = 0                              # ids the target already holds as they are
    conflicts: list = field(default_factory=list)  # (id, why)

    def counts(self) -> dict:
        """How many of each thing the plan copies."""
        records = self.whole.values()
        corrections = [c for r in records for c in r.corrections]
        return {"documents": sum(r.document is not None for r in records),
                "deleted ids": sum(r.deleted for r in records),
                "corrections": len(corrections) + sum(map(len, self.tails.values())),
                "retired corrections": sum(c["retired_by"] is not None for c in corrections),
                "scores": sum(r.scores is not None for r in records)}


def _content(doc):
    return None if doc is None else (doc["title"], doc["text"], doc["labels"], doc["labelled"])


def _review(c):
    return (c["labels"], c["reviewer"], c["note"], c["model_version"])


def compare(source: Record, target: Record):
    """("copy", None) | ("present", None) | ("tail", corrections) | ("conflict", why)."""
    if (target.document, target.last_op, target.scores) == (None, None, None) \
            and not target.corrections:
        return "copy", None
    if not source.alive:
        return "present", None  # deleted in the home: the target's state stands
    if _content(source.document) != _content(target.document):
        if target.document is None:
            why = "deleted in the database" if target.deleted else "not a document in the database"
        elif source.document is None:
            why = "the database holds a document with this id; the home holds only reviews of it"
        else:
            fields = [name for name, a, b in zip(("title", "text", "labels", "labelled"),
                                                 _content(source.document),
                                                 _content(target.document), strict=True) if a != b]
            why = f"the database holds another document with this id ({', '.join(fields)} differ)"
        return "conflict", why
    mine, theirs = [_review(c) for c in source.live], [_review(c) for c in target.live]
    if mine[:len(theirs)] == theirs:  # the target's reviews are the first of the home's
        return ("tail", source.live[len(theirs):]) if len(mine) > len(theirs) else ("present", None)
    if theirs[:len(mine)] == mine:  # reviewed further in the database since the last copy
        return "present", None
    return "conflict", "the review histories differ (neither continues the other)"


def read_records(store, ids=None) -> dict[str, Record]:
    """id -> `Record` of everything *store* holds (of *ids* only, if given), in one snapshot."""
    return store.run(lambda db: _read(db, store.dialect, ids), snapshot=True)


def _read(db, d, ids=None):
    """`read_records` within the open transaction *db* of a store with dialect *d*."""
    records = {}

    def record(doc_id):
        return records.setdefault(doc_id, Record())

    sql, params = " WHERE TRUE", ()
    if ids is not None:
        subquery, param = d.id_in(ids)
        sql, params = f" WHERE id IN ({subquery})", (param,)
    for doc_id, title, text, labels, labelled, created, predicted in db.execute(
            "SELECT id, title, text, labels, labelled, created_at, predicted FROM documents" + sql,
            params).fetchall():
        record(doc_id).document = {"title": title, "text": text, "labels": d.json_out(labels),
                                   "labelled": bool(labelled), "created_at": d.time_out(created),
                                   "predicted": None if predicted is None else d.json_out(predicted)}
    for seq, doc_id, op in db.execute(
            "SELECT seq, id, op FROM changes WHERE seq IN (SELECT MAX(seq) FROM changes" + sql +
            " GROUP BY id)", params).fetchall():
        record(doc_id).last_op = (seq, op)
    for seq, doc_id, labels, reviewer, note, version, created, retired_by in db.execute(
            "SELECT seq, id, labels, reviewer, note, model_version, created_at, retired_by"
            " FROM corrections" + sql + " ORDER BY seq", params).fetchall():
        record(doc_id).corrections.append({
            "labels": d.json_out(labels), "reviewer": reviewer, "note": note,
            "model_version": version, "created_at": d.time_out(created), "retired_by": retired_by,
            "seq": seq})
    for doc_id, version, scores in db.execute(
            "SELECT id, model_version, scores FROM scores" + sql, params).fetchall():
        record(doc_id).scores = (version, d.json_out(scores))
    return records


def plan_copy(source_records: dict, target_records: dict) -> Plan:
    """What copying *source_records* into a store holding *target_records* would do."""
    plan = Plan()
    for doc_id in sorted(source_records):
        source = source_records[doc_id]
        verdict, detail = compare(source, target_records.get(doc_id, Record()))
        if verdict == "copy":
            plan.whole[doc_id] = source
        elif verdict == "tail":
            plan.tails[doc_id] = detail
        elif verdict == "present":
            plan.present += 1
        else:
            plan.conflicts.append((doc_id, detail))
    return plan


def counts(store) -> dict:
    """How many documents, deleted ids, corrections (retired ones among them) and scores *store* holds."""
    if not store.dialect.exists():
        return dict.fromkeys(_HEADS, 0)
    return dict(zip(_HEADS, store.run(lambda db: db.execute(
        "SELECT (SELECT COUNT(*) FROM documents),"
        " (SELECT COUNT(*) FROM changes WHERE op = 'delete' AND seq IN"
        "  (SELECT MAX(seq) FROM changes GROUP BY id)),"
        " (SELECT COUNT(*) FROM corrections),"
        " (SELECT COUNT(*) FROM corrections WHERE retired_by IS NOT NULL),"
        " (SELECT COUNT(*) FROM scores)").fetchall()[0], snapshot=True), strict=True))


def copy_documents(source, target, dry_run=False) -> Plan:
    """Copy what *source* holds into *target* (two `SqlDocumentStore`), all or nothing.

    Returns the `Plan` carried out; with conflicts, or with *dry_run*, nothing is written.
    Raises `StoreUnavailable` when either database cannot be used; the target is then
    as it was.
    """
    records = read_records(source)
    if not records:
        return Plan()

    def work(db):
        # Planned inside the target's transaction, under its writers' lock: no write
        # lands between the comparison and the copy.
        plan = plan_copy(records, _read(db, target.dialect, list(records)))
        if plan.conflicts or dry_run:
            return plan
        with_deletes = {doc_id: r for doc_id, r in plan.whole.items()
                        if r.deleted or len(r.live) < len(r.corrections)}
        for doc_id, record in with_deletes.items():
            append_record(db, target.dialect, doc_id, record)
        append_many(db, target.dialect, {doc_id: r for doc_id, r in plan.whole.items()
                                         if doc_id not in with_deletes}, plan.tails)
        return plan

    try:
        return target.run(work, write=True)
    except InvalidInput as exc:  # PostgreSQL holds no NUL character: say which ids have one
        raise InvalidInput(f"{exc}; ids holding one: {', '.join(map(repr, _with_nul(records)))}"
                           "; nothing was copied") from None


def _with_nul(records):
    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from strings(item)

    return [doc_id for doc_id, r in sorted(records.items())
            if any("\x00" in text for text in strings([doc_id, r.document, r.corrections, r.scores]))]


_INSERT_DOCUMENT = ("INSERT INTO documents (id, title, text, labels, labelled, created_at,"
                    " predicted) VALUES (?, ?, ?, ?, ?, ?, ?)")
_INSERT_CORRECTION = ("INSERT INTO corrections (id, labels, reviewer, note, model_version,"
                      " created_at) VALUES (?, ?, ?, ?, ?, ?)")
_INSERT_SCORES = "INSERT INTO scores (id, model_version, scores) VALUES (?, ?, ?)"


def _document_row(dialect, doc_id, doc):
    predicted = doc.get("predicted")
    return (doc_id, doc["title"], doc["text"], dialect.json_in(doc["labels"]), doc["labelled"],
            dialect.time_in(doc["created_at"]),
            None if predicted is None else dialect.json_in(sorted(predicted)))


def _correction_row(dialect, doc_id, c):
    return (doc_id, dialect.json_in(c["labels"]), c["reviewer"], c["note"], c["model_version"],
            dialect.time_in(c["created_at"]))


def append_many(db, dialect, records, tails):
    """Append records that no delete touched, and *tails* of corrections: a statement per kind.

    The change log gets the puts in id order and corrections keep the source's order.
    """
    docs = [(doc_id, r.document) for doc_id, r in records.items() if r.document is not None]
    db.executemany(_INSERT_DOCUMENT, [_document_row(dialect, i, doc) for i, doc in docs])
    db.executemany("INSERT INTO changes (id, op) VALUES (?, 'put')", [(i,) for i, _ in docs])
    corrections = [(c["seq"], doc_id, c) for doc_id, r in records.items() for c in r.corrections]
    corrections += [(c["seq"], doc_id, c) for doc_id, tail in tails.items() for c in tail]
    db.executemany(_INSERT_CORRECTION, [_correction_row(dialect, doc_id, c)
                                        for _, doc_id, c in sorted(corrections, key=lambda t: t[0])])
    db.executemany(_INSERT_SCORES, [(doc_id, r.scores[0], dialect.json_in(r.scores[1]))
                                    for doc_id, r in records.items() if r.scores is not None])


def append_record(db, dialect, doc_id, record: Record):
    """Append one id's whole record to a store with none of it, replaying its deletes."""
    groups = sorted({c["retired_by"] for c in record.corrections if c["retired_by"] is not None})
    for group in groups:  # corrections that a delete retired: write them, then that delete
        for correction in record.corrections:
            if correction["retired_by"] == group:
                db.execute(_INSERT_CORRECTION, _correction_row(dialect, doc_id, correction))
        seq = _log(db, doc_id, "delete")
        db.execute("UPDATE corrections SET retired_by = ? WHERE id = ? AND retired_by IS NULL",
                   (seq, doc_id))
    if record.deleted and not (groups and groups[-1] == record.last_op[0]):
        _log(db, doc_id, "delete")  # a tombstone: a corpus document stays hidden
    if record.document is not None:
        db.execute(_INSERT_DOCUMENT, _document_row(dialect, doc_id, record.document))
        _log(db, doc_id, "put")
    for correction in record.live:
        db.execute(_INSERT_CORRECTION, _correction_row(dialect, doc_id, correction))
    if record.scores is not None:
        version, scores = record.scores
        db.execute(_INSERT_SCORES, (doc_id, version, dialect.json_in(scores)))


def missing_ids(source, target) -> list[str]:
    """Ids *source* holds a document or a live correction of, and *target* holds nothing of.

    Cheaper than `plan_copy` (no texts are read): what a server checks as it starts.
    """
    if not source.dialect.exists():
        return []
    alive = source.run(lambda db: [row[0] for row in db.execute(
        "SELECT id FROM documents UNION SELECT id FROM corrections WHERE retired_by IS NULL"
    ).fetchall()], snapshot=True)
    if not alive:
        return []
    subquery, param = target.dialect.id_in(alive)
    held = target.run(lambda db: {row[0] for row in db.execute(
        f"SELECT id FROM documents WHERE id IN ({subquery}) UNION SELECT id FROM changes"
        f" WHERE id IN ({subquery}) UNION SELECT id FROM corrections WHERE id IN ({subquery})",
        (param, param, param)).fetchall()}, snapshot=True)
    return sorted(set(alive) - held)
