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
"""


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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a 201 means on disk
            conn.execute("PRAGMA busy_timeout=30000")
            conn.executescript(SCHEMA)
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
                (doc_id, title or "", text, json.dumps(labels), int(bool(labelled)),
                 datetime.now(timezone.utc).isoformat(timespec="seconds")))
            return conn.execute("INSERT INTO changes (id, op) VALUES (?, 'put')",
                                (doc_id,)).lastrowid

    def delete(self, doc_id, must_exist=True) -> int:
        """Remove a document (or record a tombstone for a corpus one); return the sequence."""
        conn = self._conn()
        with _transaction(conn):
            gone = conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
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


def _as_dict(row):
    doc_id, title, text, labels, labelled, created_at = row
    return {"id": doc_id, "title": title, "text": text, "labels": json.loads(labels),
            "labelled": bool(labelled), "created_at": created_at}
