"""The document store's guarantees, proved against SQLite and PostgreSQL alike."""

import threading
import time

import pytest

from model.documents import DocumentStore
from model.errors import InvalidInput, NotFound, StoreUnavailable
from model.store import open_documents


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request, tmp_path):
    """A function that opens another handle (as another replica would) on one store."""
    if request.param == "sqlite":
        yield lambda: open_documents(tmp_path)
        return
    db = request.getfixturevalue("postgres_db")
    stores = []

    def opened():
        stores.append(open_documents(tmp_path, db.url))
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
    monkeypatch.delenv("TAGSIM_DATABASE_URL", raising=False)
    assert isinstance(open_documents(tmp_path), DocumentStore)
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
        assert conn.execute("SELECT version FROM tagsim_schema").fetchall() == [(1,)]
    for s in stores:
        s.close()


def test_postgres_down_is_a_clear_error_and_recovers(tmp_path, postgres_db):
    store = open_documents(tmp_path, postgres_db.url)
    store.timeout = 1.0
    store.put("a", "", "text", {}, False)
    postgres_db.go_down()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unavailable"):
        store.put("b", "", "text", {}, False)
    with pytest.raises(StoreUnavailable):
        store.get("a")
    assert time.monotonic() - started < 5  # bounded by the timeout, never a hang
    postgres_db.come_back()
    assert store.get("a")["id"] == "a"
    assert store.get("b") is None  # the failed write left nothing behind
    store.close()
