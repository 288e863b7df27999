"""Copying a home's SQLite documents into PostgreSQL: whole, once, and never half."""

import pytest

from model import document_copy
from model.document_copy import copy_documents, counts, missing_ids
from model.documents import open_documents
from model.errors import InvalidInput, StoreUnavailable

LABELS = {"sectors": ["clean_energy"], "agreement_type": "investment"}


@pytest.fixture
def stores(tmp_path, postgres_db):
    """(the home's SQLite store, a fresh PostgreSQL store), closed after the test."""
    source, target = open_documents(tmp_path), open_documents(tmp_path, postgres_db.url, timeout=2)
    yield source, target
    source.close()
    target.close()


def fill(store):
    """Every kind of thing a store holds: documents, reviews, retired reviews, a tombstone, scores."""
    store.put("a", "Wind loan", "A bank lends to a wind farm.", LABELS, True,
              scores=("v1", {"agreement_type": {"investment": 0.9, "none": 0.1}}))
    store.put("b", "", "A start-up is bought.", {"sectors": []}, False, predicted=["agreement_type"])
    store.correct([{"id": "b", "labels": {"agreement_type": "acquisition"}, "reviewer": "ann",
                    "note": "bought outright", "model_version": "v1"}])
    store.put("c", "Old", "First text of c.", {}, False)
    store.correct([{"id": "c", "labels": {"agreement_type": "licensing"}, "reviewer": "bo"}])
    store.delete("c")  # retires bo's review
    store.put("c", "New", "Second text of c.", {"agreement_type": "joint_venture"}, True)
    store.correct([{"id": "c", "labels": {"agreement_type": "investment"}, "reviewer": "cy"},
                   {"id": "corpus-3", "labels": {"sectors": ["biomed"]}, "reviewer": "di"}])
    store.delete("corpus-7", must_exist=False)  # a hidden corpus document


def everything(store, ids=("a", "b", "c", "corpus-3", "corpus-7")):
    """What a reader of *store* sees of *ids*, sequence numbers aside."""
    def review(c):
        return {k: v for k, v in c.items() if k not in ("seq", "retired_by")} | {
            "retired": c.get("retired_by") is not None}

    _, docs, deleted = store.state()
    return {"documents": docs, "deleted": deleted & set(ids),
            "history": {i: [review(c) for c in store.history(i, retired=True)] for i in ids},
            # each id's live reviews in their order (ids' reviews may interleave otherwise)
            "live": sorted((review(c) for c in store.corrections_since(0)), key=lambda c: c["id"]),
            "scores": store.scores_of_many()}


def test_a_copy_holds_everything_and_a_second_copies_nothing(stores):
    source, target = stores
    fill(source)
    reader_seq = target.latest()[0]  # a server already running on the database
    plan = copy_documents(source, target)
    assert plan.counts() == {"documents": 3, "deleted ids": 1, "corrections": 4,
                             "retired corrections": 1, "scores": 1}
    assert everything(target) == everything(source)
    assert everything(target)["history"]["c"][0]["retired"]  # bo's review stays retired
    assert {doc_id for _, doc_id, _ in target.changes_since(reader_seq)} == {"a", "b", "c",
                                                                             "corpus-7"}
    assert counts(target) == counts(source)
    assert missing_ids(source, target) == []

    before = target.latest()
    again = copy_documents(source, target)
    assert not any(again.counts().values()) and again.present == 5 and not again.conflicts
    assert target.latest() == before  # not one row written


def test_an_id_held_differently_is_a_conflict_and_nothing_is_copied(stores):
    source, target = stores
    fill(source)
    target.put("b", "", "Another story under the same id.", {}, False)
    target.correct([{"id": "corpus-3", "labels": {"sectors": ["digital"]}, "reviewer": "ed"}])
    before = target.latest()
    plan = copy_documents(source, target)
    assert [doc_id for doc_id, _ in plan.conflicts] == ["b", "corpus-3"]
    assert "(text, labels differ)" in dict(plan.conflicts)["b"]
    assert "review histories differ" in dict(plan.conflicts)["corpus-3"]
    assert target.latest() == before and target.get("a") is None
    assert missing_ids(source, target) == ["a", "c"]


def test_reviews_made_on_either_side_after_a_copy(stores):
    source, target = stores
    fill(source)
    copy_documents(source, target)
    source.correct([{"id": "a", "labels": {"agreement_type": "none"}, "reviewer": "fe"}])
    plan = copy_documents(source, target)  # the home went on being reviewed: only that is new
    assert plan.counts()["corrections"] == 1 and plan.counts()["documents"] == 0
    assert [c["reviewer"] for c in target.history("a")] == ["fe"]
    target.correct([{"id": "a", "labels": {"agreement_type": "investment"}, "reviewer": "gu"}])
    plan = copy_documents(source, target)  # reviewed further in the database: nothing to do
    assert not any(plan.counts().values()) and not plan.conflicts
    source.delete("b")  # deleted in the home: the database's b stands
    assert not copy_documents(source, target).conflicts and target.get("b") is not None


def test_a_database_outage_mid_copy_leaves_nothing_half_written(stores, postgres_db, monkeypatch):
    source, target = stores
    fill(source)
    target.put("z", "", "Already in the database.", {}, False)
    before = target.latest()
    append, calls = document_copy.append_record, []

    def failing(*args):
        calls.append(args[2])
        if len(calls) == 2:
            postgres_db.go_down()  # the database goes away with one id written
        append(*args)

    monkeypatch.setattr(document_copy, "append_record", failing)
    with pytest.raises(StoreUnavailable):
        copy_documents(source, target)
    monkeypatch.setattr(document_copy, "append_record", append)
    postgres_db.come_back()
    fresh = open_documents(source.dialect.path.parent, postgres_db.url)
    try:
        assert fresh.latest() == before and fresh.get("a") is None
        assert counts(fresh)["documents"] == 1
        assert copy_documents(source, fresh).counts()["documents"] == 3  # and now it goes through
        assert everything(fresh) == everything(source) | {"documents": everything(fresh)["documents"]}
        assert [d["id"] for d in fresh.state()[1]] == ["a", "b", "c", "z"]
    finally:
        fresh.close()


def test_a_dry_run_writes_nothing_and_an_empty_home_has_nothing_to_copy(stores, tmp_path):
    source, target = stores
    assert copy_documents(source, target).counts() == dict.fromkeys(
        ("documents", "deleted ids", "corrections", "retired corrections", "scores"), 0)
    assert not (tmp_path / "documents.sqlite").exists() or counts(source)["documents"] == 0
    fill(source)
    plan = copy_documents(source, target, dry_run=True)
    assert plan.counts()["documents"] == 3 and target.latest() == (0, 0)


def test_a_value_postgresql_cannot_hold_names_the_id_and_copies_nothing(stores):
    source, target = stores
    fill(source)
    source.put("nul-1", "", "A NUL \x00 inside.", {}, False)
    with pytest.raises(InvalidInput, match=r"remove NUL characters; ids holding one: 'nul-1'; "
                                           r"nothing was copied"):
        copy_documents(source, target)
    assert target.latest() == (0, 0) and counts(target)["documents"] == 0
