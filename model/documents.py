"""Documents added through the API, their change log, corrections and scores: one store, two databases.

Every write appends to ``changes``; each reader remembers the last sequence number it
applied and catches up before it answers, so several server processes (or replicas
sharing a PostgreSQL database) see the same documents without talking to each other.
`SqlDocumentStore` holds the SQL, the row mapping, the migrations and the error mapping
once; a dialect (`model.dialects`) holds what SQLite and PostgreSQL do differently.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from model.dialects import PostgresDialect, SqliteDialect
from model.errors import AlreadyExists, InvalidInput, NotFound, StoreUnavailable, TagsimError
from model.outage import Outage

DOCUMENT_STORE = "documents.sqlite"  # in the home, not in a version: the API's documents

MIGRATIONS = {  # version -> statements that bring the schema from version - 1 to it
    1: ["""CREATE TABLE IF NOT EXISTS documents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            labels {json} NOT NULL,        -- head name -> label or list of labels
            labelled {bool} NOT NULL,      -- the client gave the labels (used for training)
            created_at {time} NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS changes (
            seq {serial},
            id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('put', 'delete')))""",
        "CREATE INDEX IF NOT EXISTS changes_by_id ON changes (id, seq)"],
    2: ["""CREATE TABLE IF NOT EXISTS corrections (  -- appended to: the review history
            seq {serial},
            id TEXT NOT NULL,
            labels {json} NOT NULL,        -- head name -> the reviewed labels
            reviewer TEXT,                 -- a free string the client sent, not an identity
            note TEXT,
            model_version TEXT,            -- the version served when it was made
            created_at {time} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS corrections_by_id ON corrections (id, seq)",
        """CREATE TABLE IF NOT EXISTS scores (
            id TEXT PRIMARY KEY,
            model_version TEXT NOT NULL,
            scores {json} NOT NULL)        -- head name -> {{label: probability}}"""],
    3: ["ALTER TABLE corrections ADD COLUMN retired_by BIGINT"],  # seq of the delete that retired it
    # The heads whose labels the model predicted when the document was added (a JSON list);
    # NULL for documents stored before: labelled ones were given every label, others none.
    4: ["ALTER TABLE documents ADD COLUMN predicted {json}"],
}
SCHEMA_VERSION = max(MIGRATIONS)
_DOCUMENT = "id, title, text, labels, labelled, created_at, predicted"
_CORRECTION = "seq, id, labels, reviewer, note, model_version, created_at"


@runtime_checkable
class DocumentStore(Protocol):
    """The documents added through the API, whatever database keeps them.

    A write returns once committed. ``location`` names the database for messages (a
    PostgreSQL password is masked). A database that cannot be used now (unreachable,
    locked, not a database) raises `StoreUnavailable`; a value it cannot keep (a NUL in
    PostgreSQL) raises `InvalidInput`.
    """

    location: str

    def put(self, doc_id, title, text, labels, labelled, *, create=False, corpus=False,
            scores=None, predicted=None) -> int:
        """Insert or replace a document; return the sequence number of the change.

        *predicted* names the heads whose labels the model predicted (the others were
        given); a stored document returns it as ``predicted``, None when it was not said.

        With ``create=True`` it is inserted only if no document has the id — nor, when
        *corpus* says the id is a corpus document's, unless that one was deleted — else
        `AlreadyExists`; checked and written in one transaction, so of writers racing for
        one id exactly one succeeds. *scores* (model version, head name -> {label:
        probability}) are kept in the same transaction.
        """

    def delete(self, doc_id, must_exist=True) -> int:
        """Remove a document (or record a tombstone for a corpus one); return the sequence.

        Its corrections are retired in the same transaction: kept, but no longer returned
        by `history` or `corrections_since`, so neither search nor training uses them
        and the id starts afresh if it is added again.
        """

    def get(self, doc_id) -> dict | None:
        """A stored document as a dict (id, title, text, labels, labelled, created_at, predicted), or None."""

    def get_many(self, ids) -> dict[str, dict]:
        """id -> stored document, for each of *ids* that is stored, in one query."""

    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        """(seq, id, op) of every change after *seq*, oldest first."""

    def latest(self) -> tuple[int, int]:
        """(last change, last correction) sequence numbers, retired ones included, in one query."""

    def state(self) -> tuple[int, list[dict], set[str]]:
        """One consistent snapshot: last sequence, every document, deleted corpus ids."""

    def correct(self, corrections) -> int:
        """Append corrections, all or none; return the sequence number of the last.

        Each is a dict with ``id``, ``labels`` (head name -> labels) and optionally
        ``reviewer``, ``note`` and ``model_version``.
        """

    def history(self, doc_id, retired=False) -> list[dict]:
        """The corrections of a document, oldest first; a delete's retired ones only if *retired*.

        With *retired*, each carries ``retired_by``: the sequence number of the delete
        that retired it, or None.
        """

    def corrections_since(self, seq: int) -> list[dict]:
        """Every correction after *seq* that no delete retired, oldest first (all from 0)."""

    def put_scores(self, doc_id, model_version, scores) -> None:
        """Keep a document's scores (head name -> {label: probability}) from a model version."""

    def scores_of(self, doc_id) -> tuple[str, dict] | None:
        """(model version, scores) stored for a document, or None."""

    def scores_of_many(self, ids=None) -> dict[str, tuple[str, dict]]:
        """id -> (model version, scores) of each of *ids* that has some (every one if None), in one query."""

    def labelled(self) -> list[dict]:
        """Documents whose labels the client gave: material for the next training run."""

    def is_empty(self) -> bool:
        """Whether no document and no correction is stored (asking creates no SQLite file)."""

    def close(self) -> None:
        """Close this thread's (SQLite) or this process's (PostgreSQL) connections."""


def open_documents(home, url=None, timeout=5.0) -> DocumentStore:
    """The store of the documents added through the API to *home*.

    Parameters
    ----------
    home : path
        The model home; the SQLite file ``documents.sqlite`` lives there.
    url : str or None
        A ``postgresql://`` URL to keep the documents in PostgreSQL instead, shared by
        API replicas.
    timeout : float
        Seconds to wait for a connection, or for SQLite's write lock, before
        `StoreUnavailable`.
    """
    if url is None:
        return SqlDocumentStore(SqliteDialect(Path(home) / DOCUMENT_STORE, timeout))
    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput(f"the document database must be a postgresql:// URL, got "
                           f"{url.split(':')[0]!r}")
    return SqlDocumentStore(PostgresDialect(url, timeout))


class SqlDocumentStore(DocumentStore):
    """The `DocumentStore` over a dialect (`SqliteDialect` or `PostgresDialect`).

    The schema is created or migrated on first use in each process, in one transaction
    under the writers' lock, so that processes starting together agree; ``tagsim_schema``
    records the versions applied (a SQLite file from before it had the tables of
    version 2 and none of the table itself: its statements are ``IF NOT EXISTS``).
    """

    def __init__(self, dialect):
        self.dialect = dialect
        self.location = dialect.location
        self.outage = Outage(dialect.outage_pause)
        self._migrated_in = None  # the process that migrated
        self._lock = threading.Lock()

    def _run(self, work, write=False, snapshot=False):
        """*work(db)* in one transaction, after the migrations; driver errors mapped.

        While the database is down, `StoreUnavailable` at once but for one probe at a
        time (`Outage`): no call waits the connection timeout behind another.
        """
        self.outage.admit()
        try:
            if self._migrated_in != os.getpid():
                with self._lock:
                    if self._migrated_in != os.getpid():
                        self._transaction(self._migrate, write=True)
                        self._migrated_in = os.getpid()
            result = self._transaction(work, write, snapshot)
        except StoreUnavailable as exc:
            self.outage.failed(str(exc))
            raise
        except BaseException:
            self.outage.succeeded()  # the database answered (a conflict, a bad value...)
            raise
        self.outage.succeeded()
        return result

    def _transaction(self, work, write=False, snapshot=False):
        try:
            with self.dialect.transaction(write, snapshot) as db:
                return work(db)
        except TagsimError:
            raise
        except Exception as exc:
            kind = self.dialect.failure(exc)
            if kind is StoreUnavailable:
                raise StoreUnavailable(f"database {self.location} unavailable: {exc}") from None
            if kind is InvalidInput:
                raise InvalidInput(f"the document database cannot store this value ({exc}); "
                                   "remove NUL characters") from None
            raise

    def _migrate(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS tagsim_schema (version INTEGER NOT NULL)")
        have = db.execute("SELECT MAX(version) FROM tagsim_schema").fetchall()[0][0] or 0
        for version in range(have + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                db.execute(statement.format(**self.dialect.types))
            db.execute("INSERT INTO tagsim_schema (version) VALUES (?)", (version,))

    def run(self, work, write=False, snapshot=False):
        """*work(db)* in one transaction of this store (a snapshot, or holding the writers' lock)."""
        return self._run(work, write, snapshot)

    def close(self):
        self.dialect.close()

    def is_empty(self):
        if not self.dialect.exists():
            return True
        return not self._run(lambda db: db.execute(
            "SELECT EXISTS (SELECT 1 FROM documents) OR EXISTS "
            "(SELECT 1 FROM corrections WHERE retired_by IS NULL)").fetchall()[0][0])

    def put(self, doc_id, title, text, labels, labelled, *, create=False, corpus=False,
            scores=None, predicted=None):
        d = self.dialect

        def work(db):
            if create and _taken(db, doc_id, corpus):
                raise AlreadyExists(f"a document with id {doc_id!r} exists; delete it first "
                                    "or use another id")
            db.execute(
                f"INSERT INTO documents ({_DOCUMENT}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET title = excluded.title, text = excluded.text,"
                " labels = excluded.labels, labelled = excluded.labelled,"
                " created_at = excluded.created_at, predicted = excluded.predicted",
                (doc_id, title or "", text, d.json_in(labels), bool(labelled), d.now(),
                 None if predicted is None else d.json_in(sorted(predicted))))
            if scores is not None:
                self._put_scores(db, doc_id, *scores)
            return log_change(db, doc_id, "put")

        return self._run(work, write=True)

    def delete(self, doc_id, must_exist=True):
        def work(db):
            gone = db.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
            if must_exist and not gone:
                raise NotFound(f"no document with id {doc_id!r}")
            db.execute("DELETE FROM scores WHERE id = ?", (doc_id,))
            seq = log_change(db, doc_id, "delete")
            db.execute("UPDATE corrections SET retired_by = ? WHERE id = ? AND retired_by IS NULL",
                       (seq, doc_id))
            return seq

        return self._run(work, write=True)

    def get(self, doc_id):
        rows = self._run(lambda db: db.execute(
            f"SELECT {_DOCUMENT} FROM documents WHERE id = ?", (doc_id,)).fetchall())
        return self._document(rows[0]) if rows else None

    def get_many(self, ids):
        subquery, param = self.dialect.id_in(ids)
        rows = self._run(lambda db: db.execute(
            f"SELECT {_DOCUMENT} FROM documents WHERE id IN ({subquery})", (param,)).fetchall())
        return {row[0]: self._document(row) for row in rows}

    def changes_since(self, seq):
        return [tuple(r) for r in self._run(lambda db: db.execute(
            "SELECT seq, id, op FROM changes WHERE seq > ? ORDER BY seq", (seq,)).fetchall())]

    def latest(self):
        return tuple(self._run(lambda db: db.execute(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes),"
            " (SELECT COALESCE(MAX(seq), 0) FROM corrections)").fetchall()[0]))

    def state(self):
        def work(db):
            last = db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchall()[0][0]
            docs = db.execute(f"SELECT {_DOCUMENT} FROM documents ORDER BY id").fetchall()
            deleted = db.execute(
                "SELECT c.id FROM changes c WHERE c.op = 'delete' AND c.seq = "
                "(SELECT MAX(seq) FROM changes WHERE id = c.id)").fetchall()
            return last, [self._document(r) for r in docs], {r[0] for r in deleted}

        return self._run(work, snapshot=True)

    def correct(self, corrections):
        d = self.dialect

        def work(db):
            last = 0
            for c in corrections:
                last = db.execute(
                    "INSERT INTO corrections (id, labels, reviewer, note, model_version, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
                    (c["id"], d.json_in(c["labels"]), c.get("reviewer"), c.get("note"),
                     c.get("model_version"), d.now())).fetchall()[0][0]
            return last

        return self._run(work, write=True)

    def history(self, doc_id, retired=False):
        live = "" if retired else " AND retired_by IS NULL"
        rows = self._run(lambda db: db.execute(
            f"SELECT {_CORRECTION}, retired_by FROM corrections WHERE id = ?{live} ORDER BY seq",
            (doc_id,)).fetchall())
        return [self._correction(r, retired) for r in rows]

    def corrections_since(self, seq):
        rows = self._run(lambda db: db.execute(
            f"SELECT {_CORRECTION}, retired_by FROM corrections"
            " WHERE seq > ? AND retired_by IS NULL ORDER BY seq", (seq,)).fetchall())
        return [self._correction(r) for r in rows]

    def put_scores(self, doc_id, model_version, scores):
        self._run(lambda db: self._put_scores(db, doc_id, model_version, scores), write=True)

    def _put_scores(self, db, doc_id, model_version, scores):
        db.execute("INSERT INTO scores (id, model_version, scores) VALUES (?, ?, ?)"
                   " ON CONFLICT (id) DO UPDATE SET model_version = excluded.model_version,"
                   " scores = excluded.scores",
                   (doc_id, model_version, self.dialect.json_in(scores)))

    def scores_of(self, doc_id):
        return self.scores_of_many([doc_id]).get(doc_id)

    def scores_of_many(self, ids=None):
        sql, params = "SELECT id, model_version, scores FROM scores", ()
        if ids is not None:
            subquery, param = self.dialect.id_in(ids)
            sql, params = f"{sql} WHERE id IN ({subquery})", (param,)
        rows = self._run(lambda db: db.execute(sql, params).fetchall())
        return {doc_id: (version, self.dialect.json_out(s)) for doc_id, version, s in rows}

    def labelled(self):
        return [self._document(r) for r in self._run(lambda db: db.execute(
            f"SELECT {_DOCUMENT} FROM documents WHERE labelled = ? ORDER BY id",
            (True,)).fetchall())]

    def _document(self, row):
        doc_id, title, text, labels, labelled, created_at, predicted = row
        return {"id": doc_id, "title": title, "text": text, "labels": self.dialect.json_out(labels),
                "labelled": bool(labelled), "created_at": self.dialect.time_out(created_at),
                "predicted": None if predicted is None else self.dialect.json_out(predicted)}

    def _correction(self, row, retired=False):
        seq, doc_id, labels, reviewer, note, version, created_at, retired_by = row
        out = {"seq": seq, "id": doc_id, "labels": self.dialect.json_out(labels),
               "reviewer": reviewer, "note": note, "model_version": version,
               "created_at": self.dialect.time_out(created_at)}
        return out | {"retired_by": retired_by} if retired else out


def log_change(db, doc_id, op):
    """Append to the change log; its sequence number."""
    return db.execute("INSERT INTO changes (id, op) VALUES (?, ?) RETURNING seq",
                      (doc_id, op)).fetchall()[0][0]


def _taken(db, doc_id, corpus):
    """Whether *doc_id* is stored, or names a corpus document (*corpus*) not deleted since."""
    if db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchall():
        return True
    if not corpus:
        return False
    last = db.execute("SELECT op FROM changes WHERE id = ? ORDER BY seq DESC LIMIT 1",
                      (doc_id,)).fetchall()
    return not (last and last[0][0] == "delete")
