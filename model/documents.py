"""Documents added through the API, kept durably in SQLite with a change log.

Every write appends to ``changes``; each reader remembers the last sequence number it
applied and catches up before it answers, so several server processes see the same
documents without talking to each other.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from model.errors import NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    labels TEXT NOT NULL,          -- JSON: head name -> label or list of labels
    labelled INTEGER NOT NULL,     -- 1 when the client gave the labels (used for training)
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'delete'))
);
CREATE TABLE IF NOT EXISTS corrections (   -- appended to, never updated: the review history
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    labels TEXT NOT NULL,          -- JSON: head name -> the reviewed labels (corrected heads only)
    reviewer TEXT,                 -- a free string the client sent, not a checked identity
    note TEXT,
    model_version TEXT,            -- the version served when the correction was made
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS corrections_by_id ON corrections (id, seq);
CREATE TABLE IF NOT EXISTS scores (
    id TEXT PRIMARY KEY,
    model_version TEXT NOT NULL,
    scores TEXT NOT NULL           -- JSON: head name -> {label: probability}
);
"""


_SETUP = threading.Lock()


def _until_unlocked(step, seconds=30.0):
    """Run *step*, retrying while another process holds the lock SQLite needs for it.

    Switching a new database to WAL can fail with "database is locked" at once, without
    waiting for the busy timeout, while another connection is creating it.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class DocumentStore:
    """A SQLite file (WAL mode) of documents and the log of their changes.

    Connections are per thread and opened lazily, so a store created before a
    server forks its workers is safe to use in each of them.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.location = str(self.path)
        self._local = threading.local()
        self._pid = None

    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._local, self._pid = threading.local(), os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=True)
            conn.execute("PRAGMA busy_timeout=30000")
            with _SETUP:  # threads of one process set the schema up one at a time
                _until_unlocked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=FULL")  # a 201 means on disk
                _until_unlocked(lambda: conn.executescript(SCHEMA))
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def put(self, doc_id, title, text, labels, labelled) -> int:
        """Insert or replace a document; return the sequence number of the change."""
        conn = self._conn()
        with _transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO documents (id, title, text, labels, labelled, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (doc_id, title or "", text, json.dumps(labels), int(bool(labelled)), _now()))
            return conn.execute("INSERT INTO changes (id, op) VALUES (?, 'put')",
                                (doc_id,)).lastrowid

    def delete(self, doc_id, must_exist=True) -> int:
        """Remove a document (or record a tombstone for a corpus one); return the sequence."""
        conn = self._conn()
        with _transaction(conn):
            gone = conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
            conn.execute("DELETE FROM scores WHERE id = ?", (doc_id,))
            if must_exist and not gone:
                raise NotFound(f"no document with id {doc_id!r}")
            return conn.execute("INSERT INTO changes (id, op) VALUES (?, 'delete')",
                                (doc_id,)).lastrowid

    def get(self, doc_id) -> dict | None:
        """A stored document as a dict, or None."""
        row = self._conn().execute(
            "SELECT id, title, text, labels, labelled, created_at FROM documents WHERE id = ?",
            (doc_id,)).fetchone()
        return _as_dict(row) if row else None

    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        """(seq, id, op) of every change after *seq*, oldest first."""
        return self._conn().execute(
            "SELECT seq, id, op FROM changes WHERE seq > ? ORDER BY seq", (seq,)).fetchall()

    def state(self) -> tuple[int, list[dict], set[str]]:
        """One consistent snapshot: last sequence, every document, deleted corpus ids."""
        conn = self._conn()
        with _transaction(conn):
            last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            docs = [_as_dict(r) for r in conn.execute(
                "SELECT id, title, text, labels, labelled, created_at FROM documents ORDER BY id")]
            deleted = {r[0] for r in conn.execute(
                "SELECT c.id FROM changes c WHERE c.op = 'delete' AND c.seq = "
                "(SELECT MAX(seq) FROM changes WHERE id = c.id)")}
        return last, docs, deleted

    def correct(self, corrections) -> int:
        """Append corrections, all or none; return the sequence number of the last.

        Each is a dict with ``id``, ``labels`` (head name -> labels) and optionally
        ``reviewer``, ``note`` and ``model_version``.
        """
        conn = self._conn()
        now = _now()
        last = 0
        with _transaction(conn):
            for c in corrections:
                last = conn.execute(
                    "INSERT INTO corrections (id, labels, reviewer, note, model_version, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (c["id"], json.dumps(c["labels"]), c.get("reviewer"), c.get("note"),
                     c.get("model_version"), now)).lastrowid
        return last

    def history(self, doc_id) -> list[dict]:
        """Every correction of a document, oldest first."""
        return [_as_correction(r) for r in self._conn().execute(
            f"SELECT {_CORRECTION_COLUMNS} FROM corrections WHERE id = ? ORDER BY seq", (doc_id,))]

    def corrections_since(self, seq: int) -> list[dict]:
        """Every correction after *seq*, oldest first (all of them from 0)."""
        return [_as_correction(r) for r in self._conn().execute(
            f"SELECT {_CORRECTION_COLUMNS} FROM corrections WHERE seq > ? ORDER BY seq", (seq,))]

    def put_scores(self, doc_id, model_version, scores) -> None:
        """Keep a document's scores (head name -> {label: probability}) from a model version."""
        self._conn().execute(
            "INSERT OR REPLACE INTO scores (id, model_version, scores) VALUES (?, ?, ?)",
            (doc_id, model_version, json.dumps(scores)))

    def scores_of(self, doc_id) -> tuple[str, dict] | None:
        """(model version, scores) stored for a document, or None."""
        row = self._conn().execute("SELECT model_version, scores FROM scores WHERE id = ?",
                                   (doc_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def labelled(self) -> list[dict]:
        """Documents whose labels the client gave: material for the next training run."""
        return [d for d in self.state()[1] if d["labelled"]]


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error (autocommit connection)."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_CORRECTION_COLUMNS = "seq, id, labels, reviewer, note, model_version, created_at"


def _as_correction(row):
    seq, doc_id, labels, reviewer, note, version, created_at = row
    return {"seq": seq, "id": doc_id, "labels": json.loads(labels), "reviewer": reviewer,
            "note": note, "model_version": version, "created_at": created_at}


def _as_dict(row):
    doc_id, title, text, labels, labelled, created_at = row
    return {"id": doc_id, "title": title, "text": text, "labels": json.loads(labels),
            "labelled": bool(labelled), "created_at": created_at}
