"""Documents added through the API, kept in PostgreSQL: one store for every API replica.

The same interface and guarantees as the SQLite `DocumentStore`: a write returns once
committed, every write appends to ``changes``, and each reader catches up from the last
sequence number it applied. Writers take one transaction-scoped advisory lock, so
sequence numbers commit in the order they are handed out and a reader never skips one
that commits late. A database that cannot be reached raises `StoreUnavailable` (503)
within the pool's timeout, and the pool reconnects by itself when it comes back.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import timezone

from model.errors import InvalidInput, NotFound, StoreUnavailable

SCHEMA_VERSION = 1
MIGRATIONS = {  # version -> statements that bring the schema from version - 1 to it
    1: [
        """CREATE TABLE IF NOT EXISTS documents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            labels JSONB NOT NULL,
            labelled BOOLEAN NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
        """CREATE TABLE IF NOT EXISTS changes (
            seq BIGSERIAL PRIMARY KEY,
            id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('put', 'delete')))""",
        "CREATE INDEX IF NOT EXISTS changes_by_id ON changes (id, seq)",
    ],
}
_LOCK = 0x7461_6773  # advisory lock key of writers and migrations ("tags")
_COLUMNS = "id, title, text, labels, labelled, created_at"


def _redacted(url):
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class PostgresDocumentStore:
    """Documents and their change log in a PostgreSQL database, through a connection pool.

    Parameters
    ----------
    url : str
        A libpq connection string, e.g. ``postgresql://user@db.internal:5432/tagsim``.
    timeout : float
        Seconds to wait for a connection (and to connect) before `StoreUnavailable`.

    The pool is opened lazily in each process (a store created before a server forks
    its workers is safe in each), and the schema is created or migrated then, once per
    process, under the advisory lock so that replicas starting together agree.
    """

    def __init__(self, url, timeout=5.0, max_size=4):
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url = url
        self.location = _redacted(url)
        self.timeout = timeout
        self.max_size = max_size
        self._pool = None
        self._pid = None
        self._lock = threading.Lock()

    def _connection(self):
        if self._pid != os.getpid():  # forked: the parent's pool and its threads are not ours
            self._pool, self._pid = None, os.getpid()
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._open_pool()
        return self._pool.connection(timeout=self.timeout)

    def _open_pool(self):
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise StoreUnavailable("TAGSIM_DATABASE_URL needs psycopg: pip install "
                                   "'tagsim[scale]'") from None
        pool = ConnectionPool(
            self.url, min_size=1, max_size=self.max_size, open=False, name="tagsim-documents",
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
            kwargs={"connect_timeout": max(1, int(self.timeout)), "autocommit": True},
            timeout=self.timeout, reconnect_timeout=0)
        pool.open(wait=False)
        self._migrate(pool)
        return pool

    def _migrate(self, pool):
        import psycopg

        try:
            with pool.connection(timeout=self.timeout) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS tagsim_schema (version INTEGER NOT NULL)")
                row = conn.execute("SELECT max(version) FROM tagsim_schema").fetchone()
                have = row[0] or 0
                for version in range(have + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version]:
                        conn.execute(statement)
                    conn.execute("INSERT INTO tagsim_schema (version) VALUES (%s)", (version,))
        except psycopg.Error as exc:  # PoolTimeout is an OperationalError
            pool.close()
            raise StoreUnavailable(f"database {self.location} unavailable: {exc}") from None

    def _run(self, work):
        """Run *work(conn)* in one transaction; connection failures become `StoreUnavailable`."""
        import psycopg

        try:
            with self._connection() as conn, conn.transaction():
                return work(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # PoolTimeout too
            raise StoreUnavailable(f"database {self.location} unavailable: {exc}") from None
        except (psycopg.DataError, UnicodeEncodeError) as exc:  # e.g. a NUL, which TEXT cannot hold
            raise InvalidInput(f"the document database cannot store this value ({exc}); "
                               "remove NUL characters") from None

    def close(self) -> None:
        """Close this process's pool."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None

    def put(self, doc_id, title, text, labels, labelled) -> int:
        """Insert or replace a document; return the sequence number of the change."""
        from psycopg.types.json import Jsonb

        def work(conn):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            conn.execute(
                f"INSERT INTO documents ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, now())"
                " ON CONFLICT (id) DO UPDATE SET title = excluded.title, text = excluded.text,"
                " labels = excluded.labels, labelled = excluded.labelled,"
                " created_at = excluded.created_at",
                (doc_id, title or "", text, Jsonb(labels), bool(labelled)))
            return conn.execute("INSERT INTO changes (id, op) VALUES (%s, 'put') RETURNING seq",
                                (doc_id,)).fetchone()[0]

        return self._run(work)

    def delete(self, doc_id, must_exist=True) -> int:
        """Remove a document (or record a tombstone for a corpus one); return the sequence."""

        def work(conn):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            gone = conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,)).rowcount
            if must_exist and not gone:
                raise NotFound(f"no document with id {doc_id!r}")
            return conn.execute("INSERT INTO changes (id, op) VALUES (%s, 'delete') RETURNING seq",
                                (doc_id,)).fetchone()[0]

        return self._run(work)

    def get(self, doc_id) -> dict | None:
        """A stored document as a dict, or None."""
        row = self._run(lambda conn: conn.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE id = %s", (doc_id,)).fetchone())
        return _as_dict(row) if row else None

    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        """(seq, id, op) of every change after *seq*, oldest first."""
        return [tuple(r) for r in self._run(lambda conn: conn.execute(
            "SELECT seq, id, op FROM changes WHERE seq > %s ORDER BY seq", (seq,)).fetchall())]

    def state(self) -> tuple[int, list[dict], set[str]]:
        """One consistent snapshot: last sequence, every document, deleted corpus ids."""

        def work(conn):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            docs = [_as_dict(r) for r in conn.execute(
                f"SELECT {_COLUMNS} FROM documents ORDER BY id")]
            deleted = {r[0] for r in conn.execute(
                "SELECT DISTINCT ON (id) id, op FROM changes ORDER BY id, seq DESC")
                if r[1] == "delete"}
            return last, docs, deleted

        return self._run(work)

    def labelled(self) -> list[dict]:
        """Documents whose labels the client gave: material for the next training run."""
        return [d for d in self.state()[1] if d["labelled"]]


def _as_dict(row):
    doc_id, title, text, labels, labelled, created_at = row
    return {"id": doc_id, "title": title, "text": text, "labels": labels,
            "labelled": bool(labelled),
            "created_at": created_at.astimezone(timezone.utc).isoformat(timespec="seconds")}
