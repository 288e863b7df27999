"""Shared fixtures: a small slice of the default corpus and a model trained on it once."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from model.loaded import load_verified
from training.train import train

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "articles.jsonl.gz"


def write_jsonl(path: Path, records) -> Path:
    """Write records (dicts, or raw strings written as they are) one per line."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


@pytest.fixture(scope="session")
def corpus_records():
    """Every record of the default corpus."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, corpus_records):
    """Every second article of the default corpus, written to its own file."""
    path = tmp_path_factory.mktemp("data") / "small.jsonl"
    return write_jsonl(path, corpus_records[::2])


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, small_corpus):
    """A home folder holding one version trained on `small_corpus`."""
    home = tmp_path_factory.mktemp("home")
    train(small_corpus, home, folds=2, progress=False, log=lambda *_: None)
    return home


@pytest.fixture(scope="session")
def loaded(trained_home):
    """The verified, loaded model of `trained_home`."""
    return load_verified(trained_home, with_index=False)


@pytest.fixture
def home_copy(tmp_path, trained_home):
    """A private copy of `trained_home` (its one version current), to change or train into."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home, symlinks=True,
                    ignore=shutil.ignore_patterns("documents.sqlite*", ".lock"))
    return home


POSTGRES = os.environ.get("TAGSIM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a PostgreSQL server's maintenance database, or a skip saying why not.

    Under TAGSIM_REQUIRE_POSTGRES=1 (CI) a missing server fails the tests instead.
    """
    try:
        import psycopg

        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except Exception as exc:  # ImportError, OperationalError
        reason = f"PostgreSQL tests did not run: no server at {POSTGRES} ({exc})"
        if os.environ.get("TAGSIM_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason + "; set TAGSIM_TEST_POSTGRES, or TAGSIM_REQUIRE_POSTGRES=1 to fail")
    return POSTGRES


class Database:
    """A throwaway database on the test server: its URL, and admin statements about it."""

    def __init__(self, server):
        import psycopg

        self.server, self.name = server, "tagsim_test_" + uuid.uuid4().hex[:12]
        self.url = server.rsplit("/", 1)[0] + "/" + self.name
        self._admin = psycopg.connect(server, autocommit=True)
        self._admin.execute(f'CREATE DATABASE "{self.name}"')

    def go_down(self):
        """Refuse new connections and end the open ones, as a database that went away."""
        self._admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s", (self.name,))

    def come_back(self):
        self._admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self):
        self.close_pools()
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()

    def close_pools(self):
        """Close every connection pool still open on this database.

        Apps made in a test have no shutdown, so their pools outlive it; left open on a
        dropped database they retry in the background for the rest of the run (and draw
        jitter from the global `random`, which Hypothesis, rightly, reports as flaky).
        """
        import gc

        from psycopg_pool import ConnectionPool

        for pool in [o for o in gc.get_objects() if isinstance(o, ConnectionPool)]:
            if not pool.closed and pool.conninfo.endswith("/" + self.name):
                pool.close(timeout=1)


@pytest.fixture
def postgres_db(postgres_server):
    """A fresh, empty PostgreSQL database, dropped after the test."""
    db = Database(postgres_server)
    yield db
    db.drop()
