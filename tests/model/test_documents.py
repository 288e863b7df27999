"""The document store's guarantees, proved against SQLite and PostgreSQL alike."""

import sqlite3
import threading
import time

import pytest

from model.documents import DOCUMENT_STORE, SCHEMA_VERSION, DocumentStore, open_documents
from model.errors import AlreadyExists, InvalidInput, NotFound, StoreUnavailable


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request, tmp_path):
    """A function that opens another handle (as another replica would) on one store."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_db").url
    stores = []

    def opened(timeout=5.0):
        stores.append(open_documents(tmp_path, url, timeout=timeout))
        return stores[-1]

    yield opened
    for store in stores:
        store.close()


@pytest.fixture
def store(opener):
    return opener()


def test_put_get_and_the_change_log(store):
    first = store.put("a", "Grid deal", "A wind farm loan.", {"sectors": ["clean_energy"],
                                                              "agreement_type": "investment"}, True)
    second = store.put("b", None, "A bank bought a start-up.", {"sectors": []}, False)
    assert second > first
    doc = store.get("a")
    assert doc["labels"] == {"sectors": ["clean_energy"], "agreement_type": "investment"}
    assert (doc["title"], doc["text"], doc["labelled"]) == ("Grid deal", "A wind farm loan.", True)
    assert doc["created_at"].endswith("+00:00")
    assert store.get("b")["title"] == "" and store.get("missing") is None
    assert store.changes_since(0) == [(first, "a", "put"), (second, "b", "put")]
    assert store.changes_since(first) == [(second, "b", "put")]
    assert [d["id"] for d in store.labelled()] == ["a"]


def test_delete_is_whole_or_nothing(store):
    seq = store.put("a", "", "text", {}, False)
    with pytest.raises(NotFound):
        store.delete("never-added")
    assert store.changes_since(seq) == []  # the refused delete logged nothing
    tomb = store.delete("corpus-7", must_exist=False)  # a corpus document: a tombstone only
    gone = store.delete("a")
    assert store.get("a") is None
    assert store.changes_since(seq) == [(tomb, "corpus-7", "delete"), (gone, "a", "delete")]
    last, docs, deleted = store.state()
    assert (last, docs, deleted) == (gone, [], {"a", "corpus-7"})
    store.put("a", "", "back again", {}, False)
    assert store.state()[2] == {"corpus-7"}  # a put after a delete revives the id


def test_another_handle_sees_every_write(opener):
    writer, reader = opener(), opener()
    assert reader.state() == (0, [], set())
    seq = writer.put("x", "", "text", {}, True)
    assert reader.changes_since(0) == [(seq, "x", "put")]
    assert reader.get("x")["text"] == "text"
    writer.delete("x")
    assert reader.get("x") is None


def test_a_follower_never_misses_a_change_of_concurrent_writers(opener):
    # Sequence numbers must become visible in order, or a reader that has seen a later
    # one would skip an earlier one for ever.
    follower, writers = opener(), [opener() for _ in range(3)]
    seen, done = {}, threading.Event()

    def follow():
        last = 0
        while True:
            finished = done.is_set()
            for seq, doc_id, _ in follower.changes_since(last):
                seen[doc_id], last = seq, seq
            if finished:
                return
            time.sleep(0.001)

    def write(w, store):
        for i in range(15):
            store.put(f"w{w}-{i}", "", "text", {}, False)

    reader = threading.Thread(target=follow)
    reader.start()
    threads = [threading.Thread(target=write, args=(w, s)) for w, s in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert len(seen) == 45 and len(set(seen.values())) == 45


def test_sqlite_is_the_default_and_urls_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSIM_DATABASE_URL", "postgresql://elsewhere/tagsim")  # never read here
    store = open_documents(tmp_path)
    assert isinstance(store, DocumentStore) and store.location == str(tmp_path / DOCUMENT_STORE)
    with pytest.raises(InvalidInput, match="postgresql://"):
        open_documents(tmp_path, "mysql://db/tagsim")


def test_postgres_schema_is_created_once_by_replicas_starting_together(tmp_path, postgres_db):
    import psycopg

    stores = [open_documents(tmp_path, postgres_db.url) for _ in range(4)]
    threads = [threading.Thread(target=s.state) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(postgres_db.url) as conn:
        assert conn.execute("SELECT version FROM tagsim_schema ORDER BY version").fetchall() \
            == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # each migration applied once
    for s in stores:
        s.close()


def test_postgres_down_is_a_clear_error_and_recovers(tmp_path, postgres_db):
    store = open_documents(tmp_path, postgres_db.url, timeout=1.0)
    store.put("a", "", "text", {}, False)
    postgres_db.go_down()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unavailable"):
        store.put("b", "", "text", {}, False)
    failed = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.get("a")
    assert time.monotonic() - failed < 0.2  # found down: at once, not after the timeout again
    assert time.monotonic() - started < 5  # bounded by the timeout, never a hang
    postgres_db.come_back()
    time.sleep(store.outage.pause)  # then one call probes, and finds it back
    assert store.get("a")["id"] == "a"
    assert store.get("b") is None  # the failed write left nothing behind
    store.close()


def test_corrections_are_appended_in_order_and_scores_kept(opener):
    store, other = opener(), opener()
    first = store.correct([{"id": "a", "labels": {"agreement_type": "licensing"},
                            "reviewer": "ann", "note": "n", "model_version": "v1"}])
    last = other.correct([{"id": "b", "labels": {"sectors": ["biomed"]}},
                          {"id": "a", "labels": {"sectors": []}}])
    assert last > first
    history = store.history("a")
    assert [(h["labels"], h["reviewer"], h["note"], h["model_version"]) for h in history] == [
        ({"agreement_type": "licensing"}, "ann", "n", "v1"), ({"sectors": []}, None, None, None)]
    assert history[0]["created_at"].endswith("+00:00")
    assert [c["id"] for c in other.corrections_since(0)] == ["a", "b", "a"]
    assert [c["seq"] for c in store.corrections_since(first)][-1] == last
    assert store.scores_of("a") is None
    store.put_scores("a", "v1", {"sectors": {"biomed": 0.25}})
    other.put_scores("a", "v2", {"sectors": {"biomed": 0.5}})
    assert store.scores_of("a") == ("v2", {"sectors": {"biomed": 0.5}})
    store.put("a", "", "text", {}, False)
    store.delete("a")
    assert store.scores_of("a") is None and store.history("a") == []
    assert len(store.history("a", retired=True)) == 2  # the history stays, retired


def test_create_refuses_a_taken_id_and_keeps_the_scores_with_the_document(store):
    seq = store.put("a", "", "first", {}, True, create=True, scores=("v1", {"h": {"x": 0.5}}))
    with pytest.raises(AlreadyExists, match="'a'"):
        store.put("a", "", "second", {}, True, create=True, scores=("v2", {"h": {"x": 0.9}}))
    assert store.get("a")["text"] == "first" and store.scores_of("a") == ("v1", {"h": {"x": 0.5}})
    assert store.changes_since(seq) == []  # the refused create logged nothing
    with pytest.raises(AlreadyExists):  # a corpus document that was never deleted
        store.put("corpus-1", "", "mine", {}, True, create=True, corpus=True)
    store.delete("corpus-1", must_exist=False)
    store.put("corpus-1", "", "mine", {}, True, create=True, corpus=True)
    store.delete("a")
    store.put("a", "", "again", {}, True, create=True)  # a deleted id is free
    assert store.get("a")["text"] == "again" and store.scores_of("a") is None
    store.put("a", "", "replaced", {}, True)  # without create, put replaces
    assert store.get("a")["text"] == "replaced"


def test_writers_racing_to_create_one_id_one_wins_and_its_document_is_intact(opener):
    stores = [opener() for _ in range(8)]
    for n in range(30):
        doc_id, barrier, won = f"race-{n}", threading.Barrier(8), []

        def create(w, store, doc_id=doc_id, barrier=barrier, won=won):
            barrier.wait()
            try:
                store.put(doc_id, f"t{w}", f"text of writer {w}", {"w": w}, True, create=True,
                          scores=("v", {"w": {"x": w}}))
                won.append(w)
            except AlreadyExists:
                pass

        threads = [threading.Thread(target=create, args=(w, s)) for w, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, (n, won)
        doc = stores[0].get(doc_id)
        assert (doc["title"], doc["text"], doc["labels"]) == (
            f"t{won[0]}", f"text of writer {won[0]}", {"w": won[0]})
        assert stores[0].scores_of(doc_id) == ("v", {"w": {"x": won[0]}})


def test_a_delete_retires_the_documents_corrections(store):
    store.put("a", "", "text", {"sectors": ["biomed"]}, True)
    store.correct([{"id": "a", "labels": {"sectors": ["fintech"]}, "reviewer": "ann"},
                   {"id": "b", "labels": {"sectors": []}}])
    gone = store.delete("a")
    store.put("a", "", "new text", {"sectors": ["mining"]}, True)
    assert store.history("a") == [] and [c["id"] for c in store.corrections_since(0)] == ["b"]
    kept = store.history("a", retired=True)
    assert [(c["labels"], c["reviewer"], c["retired_by"]) for c in kept] == [
        ({"sectors": ["fintech"]}, "ann", gone)]
    store.correct([{"id": "a", "labels": {"sectors": ["energy"]}}])
    assert [c["labels"] for c in store.history("a")] == [{"sectors": ["energy"]}]
    store.delete("corpus-3", must_exist=False)  # so does a corpus document's tombstone
    assert store.history("b") != [] and store.delete("b", must_exist=False)
    assert store.history("b") == [] and len(store.history("b", retired=True)) == 1


def test_scores_of_many_reads_them_in_one_query(store):
    assert store.scores_of_many() == {} and store.scores_of_many([]) == {}
    for i in range(5):
        store.put(f"d{i}", "", "text", {}, False, scores=(f"v{i}", {"h": {"x": i / 10}}))
    assert store.scores_of_many(["d1", "d3", "missing"]) == {
        "d1": ("v1", {"h": {"x": 0.1}}), "d3": ("v3", {"h": {"x": 0.3}})}
    assert sorted(store.scores_of_many()) == [f"d{i}" for i in range(5)]


def test_is_empty_asks_without_creating_a_sqlite_file(opener, tmp_path):
    store = opener()
    assert store.is_empty()
    assert not (tmp_path / DOCUMENT_STORE).exists()
    store.correct([{"id": "corpus-1", "labels": {"sectors": []}}])
    assert not store.is_empty()
    store.delete("corpus-1", must_exist=False)
    assert store.is_empty()  # its correction retired, a tombstone alone is not material
    store.put("a", "", "text", {}, False)
    assert not store.is_empty()


TODAYS_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,
    labels TEXT NOT NULL, labelled INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'delete')));
CREATE TABLE IF NOT EXISTS corrections (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, labels TEXT NOT NULL,
    reviewer TEXT, note TEXT, model_version TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS corrections_by_id ON corrections (id, seq);
CREATE TABLE IF NOT EXISTS scores (
    id TEXT PRIMARY KEY, model_version TEXT NOT NULL, scores TEXT NOT NULL);
"""  # model/documents.py before the store had a tagsim_schema table (commit 1bd525b)


def test_a_sqlite_file_written_before_versioned_migrations_opens_and_migrates(tmp_path):
    with sqlite3.connect(tmp_path / DOCUMENT_STORE) as old:
        old.execute("PRAGMA journal_mode=WAL")
        old.executescript(TODAYS_SQLITE_SCHEMA)
        old.execute("INSERT INTO documents VALUES ('a', 'Title', 'old text', "
                    "'{\"sectors\": [\"biomed\"]}', 1, '2024-05-01T10:00:00+00:00')")
        old.execute("INSERT INTO changes (id, op) VALUES ('a', 'put'), ('corpus-9', 'delete')")
        old.execute("INSERT INTO corrections (id, labels, reviewer, note, model_version, "
                    "created_at) VALUES ('a', '{\"sectors\": []}', 'ann', NULL, 'v0', "
                    "'2024-05-02T10:00:00+00:00')")
        old.execute("INSERT INTO scores VALUES ('a', 'v0', '{\"sectors\": {\"biomed\": 0.7}}')")
    old.close()
    store = open_documents(tmp_path)
    assert store.state() == (2, [{"id": "a", "title": "Title", "text": "old text",
                                  "labels": {"sectors": ["biomed"]}, "labelled": True,
                                  "created_at": "2024-05-01T10:00:00+00:00",
                                  "predicted": None}], {"corpus-9"})
    assert [(c["labels"], c["reviewer"]) for c in store.history("a")] == [({"sectors": []}, "ann")]
    assert store.scores_of("a") == ("v0", {"sectors": {"biomed": 0.7}})
    assert store.put("b", "", "new", {}, False) == 3
    store.delete("a")
    assert store.history("a") == [] and len(store.history("a", retired=True)) == 1
    store.close()
    with sqlite3.connect(tmp_path / DOCUMENT_STORE) as conn:
        assert conn.execute("SELECT version FROM tagsim_schema ORDER BY version").fetchall() \
            == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "changes_by_id" in indexes
    conn.close()
    again = open_documents(tmp_path)  # migrated once: opening again changes nothing
    assert [d["id"] for d in again.state()[1]] == ["b"]
    again.close()


TODAYS_POSTGRES_SCHEMA = [  # model/postgres_documents.py's migrations 1 and 2 (commit 1bd525b)
    "CREATE TABLE tagsim_schema (version INTEGER NOT NULL)",
    "CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', text TEXT NOT "
    "NULL, labels JSONB NOT NULL, labelled BOOLEAN NOT NULL, created_at TIMESTAMPTZ NOT NULL "
    "DEFAULT now())",
    "CREATE TABLE changes (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, op TEXT NOT NULL CHECK "
    "(op IN ('put', 'delete')))",
    "CREATE INDEX changes_by_id ON changes (id, seq)",
    "CREATE TABLE corrections (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, labels JSONB NOT "
    "NULL, reviewer TEXT, note TEXT, model_version TEXT, created_at TIMESTAMPTZ NOT NULL "
    "DEFAULT now())",
    "CREATE INDEX corrections_by_id ON corrections (id, seq)",
    "CREATE TABLE scores (id TEXT PRIMARY KEY, model_version TEXT NOT NULL, scores JSONB NOT NULL)",
    "INSERT INTO tagsim_schema VALUES (1), (2)",
    "INSERT INTO documents (id, text, labels, labelled) VALUES ('a', 'old', '{\"s\": [\"x\"]}', true)",
    "INSERT INTO changes (id, op) VALUES ('a', 'put')",
    "INSERT INTO corrections (id, labels, reviewer) VALUES ('a', '{\"s\": []}', 'ann')",
]


def test_a_postgres_database_at_schema_version_2_migrates_in_place(tmp_path, postgres_db):
    import psycopg

    with psycopg.connect(postgres_db.url, autocommit=True) as conn:
        for statement in TODAYS_POSTGRES_SCHEMA:
            conn.execute(statement)
    store = open_documents(tmp_path, postgres_db.url)
    assert store.get("a")["labels"] == {"s": ["x"]} and len(store.history("a")) == 1
    store.delete("a")
    assert store.history("a") == [] and store.history("a", retired=True)[0]["reviewer"] == "ann"
    store.close()
    with psycopg.connect(postgres_db.url) as conn:
        assert conn.execute("SELECT version FROM tagsim_schema ORDER BY version").fetchall() \
            == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_a_locked_or_broken_sqlite_file_is_unavailable_within_the_timeout(tmp_path):
    store = open_documents(tmp_path, timeout=0.3)
    store.put("a", "", "text", {}, False)
    holder = sqlite3.connect(tmp_path / DOCUMENT_STORE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unavailable: database is locked"):
        store.put("b", "", "text", {}, False)
    with pytest.raises(StoreUnavailable):  # a new handle's migration waits for the lock too
        open_documents(tmp_path, timeout=0.3).get("a")
    assert time.monotonic() - started < 3
    holder.execute("ROLLBACK")
    holder.close()
    store.put("b", "", "text", {}, False)  # and it recovers once the lock is gone
    assert [d["id"] for d in store.state()[1]] == ["a", "b"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / DOCUMENT_STORE).write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreUnavailable, match="not a database"):
        open_documents(broken).get("a")


def test_a_value_postgres_cannot_keep_is_invalid_input_and_leaves_no_scores(tmp_path, postgres_db):
    store = open_documents(tmp_path, postgres_db.url)
    with pytest.raises(InvalidInput, match="NUL"):
        store.put("a", "", "nul \x00 inside", {}, False, scores=("v", {"h": {"x": 0.5}}))
    assert store.get("a") is None and store.scores_of("a") is None
    store.close()
