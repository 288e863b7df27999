"""What differs between the two databases the document store runs on: SQLite and PostgreSQL.

`model.documents.SqlDocumentStore` writes its SQL once, with ``?`` placeholders and the
column types in braces (``{json}``); a dialect fills those in, opens connections, runs a
transaction holding the writers' lock, adapts JSON and timestamps, and says which driver
errors mean "the database cannot be used now" and which mean "this value cannot be kept".
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from model.errors import InvalidInput, StoreUnavailable
from model.extras import require

_SETUP = threading.Lock()  # threads of one process switch a new SQLite file to WAL one at a time
_LOCK = 0x7461_6773  # PostgreSQL advisory lock key of writers and migrations ("tags")


def _until_unlocked(step, seconds):
    """Run *step*, retrying while another connection holds the lock SQLite needs for it.

    Switching a new database to WAL (or starting a transaction while another connection
    does) can fail with "database is locked" at once, without waiting for the busy timeout.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteDialect:
    """One SQLite file in WAL mode with ``synchronous=FULL``: a committed write is on disk.

    Connections are per thread and opened lazily, so a store created before a server
    forks its workers is safe to use in each. Writers take the file's write lock
    (``BEGIN IMMEDIATE``) and wait up to *timeout* seconds for it.
    """

    types = {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "json": "TEXT", "bool": "INTEGER",
             "time": "TEXT"}
    outage_pause = 0  # a local file: a failure (say, a held lock) says nothing of the next call

    def __init__(self, path, timeout=5.0):
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.path, self.timeout = Path(path), timeout
        self.location = str(self.path)
        self._local, self._pid = threading.local(), os.getpid()

    def exists(self) -> bool:
        """Whether the file is there (asking never creates it)."""
        return self.path.is_file()

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._local, self._pid = threading.local(), os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                with _SETUP:
                    _until_unlocked(lambda: conn.execute("PRAGMA journal_mode=WAL"), self.timeout)
                conn.execute("PRAGMA synchronous=FULL")  # a 201 means on disk
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, write=False, snapshot=False):
        """One transaction (a snapshot for reads, in WAL mode); committed unless it raises."""
        conn = self._connection()
        _until_unlocked(lambda: conn.execute("BEGIN IMMEDIATE" if write else "BEGIN"),
                        self.timeout)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def failure(self, exc):
        """`StoreUnavailable` or `InvalidInput` for a driver error of those kinds, else None."""
        if isinstance(exc, (sqlite3.DataError, UnicodeEncodeError)):
            return InvalidInput
        if isinstance(exc, (sqlite3.OperationalError, OSError)) or type(exc) is sqlite3.DatabaseError:
            return StoreUnavailable  # locked, unreadable, or not a database at all
        return None

    json_in, json_out = staticmethod(json.dumps), staticmethod(json.loads)
    now = staticmethod(lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    time_out = staticmethod(lambda value: value)  # kept as ISO 8601 text already
    time_in = staticmethod(lambda iso: iso)
    # A subquery of *ids* and its one parameter, for ``id IN (...)``:
    id_in = staticmethod(lambda ids: ("SELECT value FROM json_each(?)", json.dumps(list(ids))))

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresDialect:
    """A PostgreSQL database through a psycopg connection pool, opened lazily per process.

    Writers take one transaction-scoped advisory lock, so sequence numbers commit in the
    order they are handed out and a reader never skips one that commits late. Waiting for
    a connection (and connecting) gives up after *timeout* seconds; the pool reconnects by
    itself when the database comes back.
    """

    types = {"serial": "BIGSERIAL PRIMARY KEY", "json": "JSONB", "bool": "BOOLEAN",
             "time": "TIMESTAMPTZ"}
    outage_pause = 1.0  # seconds of failing at once after the server could not be reached

    def __init__(self, url, timeout=5.0, max_size=4):
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url, self.timeout, self.max_size = url, timeout, max_size
        self.location = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
        # Checked here, when the store is opened (at start-up), not on the first request.
        for module in ("psycopg", "psycopg_pool"):
            require(module, "scale", "a postgresql:// document database")
        self._pool, self._pid, self._lock = None, None, threading.Lock()

    def exists(self) -> bool:
        return True

    def _connection(self):
        if self._pid != os.getpid():  # forked: the parent's pool and its threads are not ours
            self._pool, self._pid = None, os.getpid()
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.url, min_size=1, max_size=self.max_size, open=False,
                    name="tagsim-documents", check=ConnectionPool.check_connection,
                    kwargs={"connect_timeout": max(1, int(self.timeout)), "autocommit": True},
                    timeout=self.timeout, reconnect_timeout=0)
                self._pool.open(wait=False)
        return self._pool.connection(timeout=self.timeout)

    @contextmanager
    def transaction(self, write=False, snapshot=False):
        """One transaction (REPEATABLE READ for a snapshot), under the writers' lock to write."""
        with self._connection() as conn, conn.transaction():
            if snapshot:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if write:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            yield _Placeholders(conn)

    def failure(self, exc):
        """`StoreUnavailable` or `InvalidInput` for a driver error of those kinds, else None."""
        import psycopg

        if isinstance(exc, (psycopg.DataError, UnicodeEncodeError)):  # e.g. a NUL in TEXT
            return InvalidInput
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):  # PoolTimeout too
            return StoreUnavailable
        return None

    @staticmethod
    def json_in(value):
        from psycopg.types.json import Jsonb

        return Jsonb(value)

    json_out = staticmethod(lambda value: value)  # psycopg decodes JSONB itself
    now = staticmethod(lambda: datetime.now(timezone.utc))
    time_out = staticmethod(lambda value: value.astimezone(timezone.utc).isoformat(timespec="seconds"))
    time_in = staticmethod(datetime.fromisoformat)
    id_in = staticmethod(lambda ids: ("SELECT unnest(?::text[])", list(ids)))

    def close(self) -> None:
        """Close this process's pool."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None


class _Placeholders:
    """A psycopg connection that takes the store's ``?`` placeholders."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql, params=()):
        return self.conn.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql, rows):
        """One statement for many rows, sent in one round trip (psycopg's pipeline)."""
        with self.conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)
