"""The pruned top-k search returns exactly what a brute-force scan returns."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import model.similarity as similarity
from model.gaps import decode
from model.index_writer import IndexWriter
from model.similarity import SimilarityIndex

# Multiples of 1/8: every sum of products is exact in float32, so ties are real ties.
WEIGHTS = st.sampled_from([0.0, 0.0, 0.0, 0.125, 0.25, 0.5, 0.75, 1.0, 2.0])


def brute_force(X, q, k, allowed=None):
    """Dense reference: score every row, drop zeros and masked rows, sort by (-score, row)."""
    scores = np.asarray(X, dtype=np.float64) @ np.asarray(q, dtype=np.float64)
    rows = [i for i in range(len(scores)) if scores[i] > 0 and (allowed is None or allowed[i])]
    rows.sort(key=lambda i: (-scores[i], i))
    return np.asarray(rows[:k], dtype=np.int64), scores[rows[:k]]


@st.composite
def searches(draw, max_docs=40, max_terms=12):
    n_docs = draw(st.integers(0, max_docs))
    n_terms = draw(st.integers(1, max_terms))
    X = draw(hnp.arrays(np.float64, (n_docs, n_terms), elements=WEIGHTS))
    if n_docs and draw(st.booleans()):  # duplicated rows: guaranteed ties
        X = np.vstack([X, X[: draw(st.integers(1, n_docs))]])
    q = draw(hnp.arrays(np.float64, n_terms, elements=WEIGHTS))
    k = draw(st.integers(1, len(X) + 5))
    allowed = draw(st.none() | hnp.arrays(np.bool_, len(X)))
    return X, q, k, allowed


def arrays_of(folder):
    """Every array of an index folder, by name."""
    return {p.stem: np.load(p, allow_pickle=False) for p in folder.glob("*.npy")}


def assert_same(index, X, q, k, allowed):
    rows, scores = index.top_k(sp.csr_matrix(q.reshape(1, -1)), k, allowed)
    want_rows, want_scores = brute_force(X, q, k, allowed)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(scores, want_scores.astype(np.float32))


@settings(max_examples=300, deadline=None)
@given(searches(), st.integers(1, 3), st.integers(1, 2))
def test_top_k_equals_brute_force(case, shards, threads):
    X, q, k, allowed = case
    index = SimilarityIndex(sp.csr_matrix(X), [f"d{i}" for i in range(len(X))], shards=shards)
    index.threads = threads
    assert_same(index, X, q, k, allowed)


@settings(max_examples=40, deadline=None)
@given(searches(max_docs=25, max_terms=8), st.integers(1, 40), st.integers(1, 3))
def test_written_blockwise_and_loaded_equals_brute_force(tmp_path_factory, case, block, shards):
    X, q, k, allowed = case
    ids = [f"d{i}" for i in range(len(X))]
    folder = tmp_path_factory.mktemp("index")
    saved = SimilarityIndex(sp.csr_matrix(X), ids, shards=shards)
    saved.save(folder / "saved")
    writer = IndexWriter(folder / "written", X.shape[1], shards=shards)
    writer.block_entries = block  # rows straddle blocks
    for start in range(0, len(X), 7):
        writer.add(sp.csr_matrix(X[start:start + 7]))
    writer.close(ids)
    a, b = arrays_of(folder / "saved"), arrays_of(folder / "written")
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    loaded = SimilarityIndex.load(folder / "written")
    assert list(loaded.ids) == ids
    assert_same(loaded, X, q, k, allowed)


def zipf_corpus(n_docs=3000, n_terms=400, seed=0):
    """L2-normalised rows whose term frequencies follow a power law, as in real text."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_terms + 1) ** 1.1
    p /= p.sum()
    rows = []
    for _ in range(n_docs):
        terms = np.unique(rng.choice(n_terms, size=rng.integers(1, 40), p=p))
        rows.append((terms, rng.random(len(terms)) + 0.05))
    indptr = np.cumsum([0] + [len(t) for t, _ in rows])
    X = sp.csr_matrix((np.concatenate([w for _, w in rows]), np.concatenate([t for t, _ in rows]),
                       indptr), shape=(n_docs, n_terms), dtype=np.float32)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1 / norms) @ X, dtype=np.float32)
    X.sum_duplicates()  # sorted columns, as a vectorizer makes them
    return X


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("mask_share", [None, 0.5, 0.02])
@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("read_all", [False, True])
@pytest.mark.parametrize("adding", ["compiled", "selected", "in_place"])
def test_realistic_corpus_equals_brute_force(k, mask_share, shards, read_all, adding,
                                             monkeypatch):
    if read_all:  # every query takes the path that reads the skipped postings instead
        monkeypatch.setattr(similarity, "_MANY_ROWS", -1)
        monkeypatch.setattr(similarity, "_RESCORE_COST", 10**9)
    if adding != "compiled":  # numpy and scipy alone, as an install without a compiler
        monkeypatch.setattr(similarity, "_COMPILED", False)
    if adding == "in_place":  # every posting list is added in place, however short
        monkeypatch.setattr(similarity, "_LONG_LISTS", 0)
    X = zipf_corpus()
    index = SimilarityIndex(X, [str(i) for i in range(X.shape[0])], shards=shards)
    rng = np.random.default_rng(k)
    allowed = None if mask_share is None else rng.random(X.shape[0]) < mask_share
    for j in rng.choice(X.shape[0], 25, replace=False):
        q = X[j]
        scores = X @ q.toarray().ravel()  # float32, the same row products as the index
        keep = (scores > 0) & (True if allowed is None else allowed)
        want = sorted(np.flatnonzero(keep), key=lambda i: (-scores[i], i))[:k]
        rows, got = index.top_k(q, k, allowed)
        np.testing.assert_array_equal(rows, want)
        np.testing.assert_array_equal(got, scores[want])


def test_common_terms_postings_are_skipped(monkeypatch):
    # 5000 documents share term 0 with a small weight; two also hold the rare terms 1, 2.
    n = 5000
    X = sp.lil_matrix((n, 3), dtype=np.float32)
    X[:, 0] = 0.1
    X[7, 1], X[7, 2] = 0.7, 0.7
    X[9, 1] = 0.9
    index = SimilarityIndex(X.tocsr(), [str(i) for i in range(n)])
    read = []
    original = similarity._accumulate
    monkeypatch.setattr(similarity, "_accumulate",
                        lambda shard, terms, w: read.extend(terms.tolist()) or original(shard, terms, w))
    rows, _ = index.top_k(sp.csr_matrix([[0.2, 0.7, 0.7]]), 2)
    assert rows.tolist() == [7, 9]
    assert 0 not in read


def test_too_many_candidates_read_the_skipped_postings(monkeypatch):
    X = zipf_corpus()
    index = SimilarityIndex(X, [str(i) for i in range(X.shape[0])])
    q = X[11]
    reads = []
    original = similarity._accumulate
    monkeypatch.setattr(similarity, "_accumulate",
                        lambda shard, terms, w: reads.append(len(terms)) or original(shard, terms, w))
    monkeypatch.setattr(similarity, "_MANY_ROWS", 10**9)
    monkeypatch.setattr(similarity, "_SKIP_SHARE", 0.5)  # so that this query skips some
    index.top_k(q, 10)
    pruned = list(reads)
    monkeypatch.setattr(similarity, "_MANY_ROWS", -1)
    monkeypatch.setattr(similarity, "_RESCORE_COST", 10**9)
    reads.clear()
    index.top_k(q, 10)
    assert sum(reads) == q.nnz > sum(pruned)  # every term read, some were skipped before


def test_public_fallback_adds_the_same_bits(monkeypatch):
    monkeypatch.setattr(similarity, "_LONG_LISTS", 0)  # short lists too: in place
    monkeypatch.setattr(similarity, "_COMPILED", False)  # scipy's kernel, not ours
    X = zipf_corpus()
    index = SimilarityIndex(X, [str(i) for i in range(X.shape[0])], shards=2)
    rng = np.random.default_rng(3)
    assert similarity._matvec_kernel() is not None  # the fast kernel is in use here
    for j in rng.choice(X.shape[0], 20, replace=False):
        q = X[j]
        terms, weights = q.indices, q.data.astype(np.float32)
        fast = [similarity._accumulate(s, terms, weights) for s in index.shards]
        found = index.top_k(q, 10)
        with monkeypatch.context() as m:
            m.setattr(similarity, "_csc_matvec", None)
            for shard, got in zip(index.shards, fast, strict=True):
                np.testing.assert_array_equal(got, similarity._accumulate(shard, terms, weights))
            public = index.top_k(q, 10)
        np.testing.assert_array_equal(found[0], public[0])
        np.testing.assert_array_equal(found[1], public[1])


def test_a_changed_private_kernel_is_not_used(monkeypatch):
    import scipy.sparse._sparsetools as sparsetools

    assert similarity._checked_csc_matvec() is sparsetools.csc_matvec
    monkeypatch.setattr(sparsetools, "csc_matvec", lambda *args: None)  # adds nothing
    assert similarity._checked_csc_matvec() is None
    monkeypatch.delattr(sparsetools, "csc_matvec")
    assert similarity._checked_csc_matvec() is None


def test_empty_query_and_empty_index():
    index = SimilarityIndex(sp.csr_matrix(np.eye(3)), ["a", "b", "c"])
    rows, scores = index.top_k(sp.csr_matrix((1, 3)), 5)
    assert rows.size == scores.size == 0
    empty = SimilarityIndex(sp.csr_matrix((0, 3)), [])
    assert len(empty) == 0
    assert empty.top_k(sp.csr_matrix([[1.0, 0, 0]]), 3)[0].size == 0


def test_matrix_rows_and_ids_survive_a_round_trip(tmp_path):
    X = zipf_corpus(200, 50)
    index = SimilarityIndex(X, [f"doc-{i}" for i in range(200)], shards=2)
    index.save(tmp_path / "index")
    loaded = SimilarityIndex.load(tmp_path / "index")
    assert len(loaded.shards) == 2 and loaded.threads == 1
    assert isinstance(loaded.matrix.data, np.ndarray) and not loaded.matrix.data.flags.writeable
    assert (loaded.matrix[17] != X[17]).nnz == 0
    assert loaded.ids[17] == "doc-17" and len(loaded) == 200
    # plain .npy files: the ids as UTF-8 bytes end to end, and where each ends
    utf8 = np.load(tmp_path / "index" / "ids_utf8.npy", allow_pickle=False)
    ends = np.load(tmp_path / "index" / "ids_ends.npy", allow_pickle=False)
    assert bytes(utf8[ends[2]:ends[3]]) == b"doc-3"


@pytest.mark.parametrize("query, message", [
    (sp.csr_matrix([[1.0, 0.0]]), "shape"),
    (sp.csr_matrix([[-1.0, 0.0, 0.0]]), "non-negative"),
])
def test_bad_queries_are_refused(query, message):
    index = SimilarityIndex(sp.csr_matrix(np.eye(3)), ["a", "b", "c"])
    with pytest.raises(ValueError, match=message):
        index.top_k(query, 2)


def test_negative_weights_and_wrong_ids_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        SimilarityIndex(sp.csr_matrix([[-0.5, 1.0]]), ["a"])
    with pytest.raises(ValueError, match="1 rows but 2 ids"):
        SimilarityIndex(sp.csr_matrix([[0.5, 1.0]]), ["a", "b"])


def test_duplicate_query_entries_are_summed():
    index = SimilarityIndex(sp.csr_matrix(np.eye(3)), ["a", "b", "c"])
    q = sp.csr_matrix((np.array([0.25, 0.5]), np.array([1, 1]), np.array([0, 2])), shape=(1, 3))
    rows, scores = index.top_k(q, 3)
    assert rows.tolist() == [1] and scores.tolist() == [0.75]


def test_default_shards_follow_the_corpus_size():
    assert len(similarity.shard_starts(1000)) == 2  # one shard
    most = similarity.ROWS_PER_SHARD
    assert len(similarity.shard_starts(2 * most)) == 3  # two shards
    assert len(similarity.shard_starts(2 * most + 1)) == 4
    assert similarity.shard_starts(10, shards=3).tolist() == [0, 3, 6, 10]
    assert similarity.shard_starts(0).tolist() == [0, 0]


def test_nothing_runs_on_import():
    import subprocess
    import sys

    code = ("import sys, model.similarity as s, training.report, training.cli, service; "
            "assert s._csc_matvec is s._UNCHECKED, 'scipy probed on import'; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'a backend was chosen on import'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("chunk", [1 << 22, 7, 1])  # postings coded at a time
def test_postings_are_one_byte_codes_that_bound_every_weight_from_above(tmp_path, monkeypatch,
                                                                       chunk):
    monkeypatch.setattr(similarity, "_CODE_CHUNK", chunk)
    X = zipf_corpus(500, 80)
    SimilarityIndex(X, [str(i) for i in range(500)], shards=2).save(tmp_path / "index")
    for i in range(2):
        codes = np.load(tmp_path / "index" / f"postings_data_{i}.npy")
        gaps = np.load(tmp_path / "index" / f"postings_rows_{i}.npy")
        wide = np.load(tmp_path / "index" / f"postings_wide_{i}.npy")
        escapes = np.load(tmp_path / "index" / f"postings_wide_indptr_{i}.npy")
        indptr = np.load(tmp_path / "index" / f"postings_indptr_{i}.npy")
        assert gaps.dtype == np.uint8 and wide.dtype == np.uint16  # rows gap-coded (model.gaps)
        rows = decode(gaps, wide, indptr[:-1], indptr[1:], escapes[:-1], escapes[1:])
        scales = np.load(tmp_path / "index" / f"scales_{i}.npy")
        bounds = np.load(tmp_path / "index" / f"bounds_{i}.npy")
        assert codes.dtype == np.uint8 and codes.min() >= 1
        weights = X[i * 250:(i + 1) * 250].T.tocsr()  # the same postings, exact weights
        weights.sort_indices()
        np.testing.assert_array_equal(rows, weights.indices)
        np.testing.assert_array_equal(indptr, weights.indptr)
        term = np.repeat(np.arange(X.shape[1]), np.diff(indptr))
        upper = codes.astype(np.float64) * scales[term]
        assert np.all(upper >= weights.data)
        assert np.all(upper - weights.data <= scales[term])  # rounded up by less than a step
        assert np.all(bounds[term] >= weights.data)


def test_an_index_written_with_float32_postings_is_still_read_exactly(tmp_path):
    X = zipf_corpus()
    folder = tmp_path / "index"
    SimilarityIndex(X, [str(i) for i in range(X.shape[0])], shards=2).save(folder)
    starts = np.load(folder / "shard_starts.npy")
    for i, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):  # the old layout
        postings = sp.csr_matrix(X[a:b].T, dtype=np.float32)
        postings.sort_indices()
        np.save(folder / f"postings_data_{i}.npy", postings.data)
        np.save(folder / f"postings_rows_{i}.npy", postings.indices.astype(np.int32))
        np.save(folder / f"postings_indptr_{i}.npy", postings.indptr.astype(np.int32))
        np.save(folder / f"bounds_{i}.npy", similarity._term_bounds(postings))
        for name in (f"scales_{i}", f"postings_wide_{i}", f"postings_wide_indptr_{i}"):
            (folder / f"{name}.npy").unlink()
    old = SimilarityIndex.load(folder)
    assert all(s.scales is None and s.data.dtype == np.float32 and s.rows.dtype == np.int32
               and s.segments == 1 for s in old.shards)
    rng = np.random.default_rng(5)
    for j in rng.choice(X.shape[0], 20, replace=False):
        q = X[j]
        scores = X @ q.toarray().ravel()
        want = sorted(np.flatnonzero(scores > 0), key=lambda i: (-scores[i], i))[:10]
        rows, got = old.top_k(q, 10)
        np.testing.assert_array_equal(rows, want)
        np.testing.assert_array_equal(got, scores[want])


@pytest.mark.parametrize("compiled", [True, False])
def test_an_index_written_with_two_byte_rows_and_terms_is_still_read_exactly(tmp_path, monkeypatch,
                                                                            compiled):
    # the layout before gap coding: a posting's row within its segment and a row's terms
    # in two bytes each, nothing escaped
    monkeypatch.setattr(similarity, "_COMPILED", compiled)
    rng = np.random.default_rng(8)
    n = 70_000  # two segments
    counts = sp.random(n, 300, density=0.03, format="csr", random_state=rng,
                       data_rvs=lambda m: rng.integers(1, 4, m)).astype(np.int64)
    idf = rng.uniform(1, 6, 300).astype(np.float32)
    index = SimilarityIndex.from_counts(counts, idf, [str(i) for i in range(n)], shards=1)
    folder = tmp_path / "index"
    index.save(folder)
    shard = index.shards[0]
    np.save(folder / "postings_rows_0.npy",
            (shard._rows_of(np.arange(300))[0] & 0xFFFF).astype(np.uint16))
    np.save(folder / "terms.npy", counts.indices.astype(np.uint16))
    for name in ("postings_wide_0", "postings_wide_indptr_0", "terms_wide", "terms_wide_indptr"):
        (folder / f"{name}.npy").unlink()
    old = SimilarityIndex.load(folder)
    assert old.shards[0].rows.dtype == np.uint16 and not old.shards[0].gapped
    assert old.rows.terms.dtype == np.uint16 and not old.rows.gapped
    W = similarity.weigh(counts, idf)[0]
    assert (old.matrix != W).nnz == 0
    for j in rng.choice(n, 8, replace=False):
        want_rows, want_scores = ranked(index.scores_of_all(W[j]), 10)
        rows, scores = old.top_k(W[j], 10)
        np.testing.assert_array_equal(rows, want_rows)
        np.testing.assert_array_equal(scores, want_scores)


def test_a_later_shard_starts_from_the_kth_best_score_of_the_shards_before(monkeypatch):
    X = zipf_corpus()
    index = SimilarityIndex(X, [str(i) for i in range(X.shape[0])], shards=3)
    given = []
    original = SimilarityIndex._search
    monkeypatch.setattr(SimilarityIndex, "_search", lambda self, shard, *args, theta=0.0:
                        given.append((shard.start, theta)) or original(self, shard, *args,
                                                                       theta=theta))
    q = X[2500]  # in the last shard: the earlier ones hold only weaker matches
    scores = X @ q.toarray().ravel()
    rows, got = index.top_k(q, 10)
    np.testing.assert_array_equal(got, np.sort(scores)[::-1][:10])
    assert given[0] == (0, 0.0)
    before = scores[: index.shards[1].start]
    assert given[1] == (index.shards[1].start, pytest.approx(np.sort(before)[::-1][9], abs=0))
    assert given[2][1] >= given[1][1] > 0


def test_weights_near_the_bottom_of_float32_are_still_found():
    X = sp.csr_matrix(np.array([[1e-44, 0.0], [0.0, 1.0]], dtype=np.float32))
    q = sp.csr_matrix(np.array([[0.1, 0.0]], dtype=np.float32))
    want = np.asarray(X @ q.toarray().ravel()).ravel()  # float32: 1e-45, not zero
    rows, scores = SimilarityIndex(X, ["a", "b"]).top_k(q, 5)
    assert rows.tolist() == [0] and scores.tolist() == [want[0]] and want[0] > 0


@pytest.mark.parametrize("name", ["scales_0", "bounds_0"])
@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf")])
def test_a_changed_scale_or_bound_is_refused_not_silently_pruned(tmp_path, name, value):
    from model.mapped import IndexChanged

    X = zipf_corpus(300, 40)
    SimilarityIndex(X, [str(i) for i in range(300)]).save(tmp_path / "index")
    index = SimilarityIndex.load(tmp_path / "index")
    q = X[5]
    assert index.top_k(q, 3)[0][0] == 5
    array = np.load(tmp_path / "index" / f"{name}.npy", mmap_mode="r+")
    array[q.indices] = value  # in place, as a stray write would change it
    array.flush()
    del array
    with pytest.raises(IndexChanged, match=name.split("_")[0]):
        index.top_k(q, 3)


# -- rows stored as counts ---------------------------------------------------------------


def ranked(scores, k, allowed=None):
    """The best k of a brute-force scan's *scores*: drop zeros and masked rows, sort by (-score, row)."""
    rows = [i for i in range(len(scores)) if scores[i] > 0 and (allowed is None or allowed[i])]
    rows.sort(key=lambda i: (-scores[i], i))
    return np.asarray(rows[:k], dtype=np.int64), scores[rows[:k]]


@st.composite
def counted_searches(draw, max_docs=40, max_terms=12):
    n_docs = draw(st.integers(0, max_docs))
    n_terms = draw(st.integers(1, max_terms))
    counts = draw(hnp.arrays(np.int64, (n_docs, n_terms),
                             elements=st.sampled_from([0, 0, 0, 1, 1, 2, 3, 7, 300])))
    if n_docs and draw(st.booleans()):  # duplicated rows: guaranteed ties
        counts = np.vstack([counts, counts[: draw(st.integers(1, n_docs))]])
    idf = draw(hnp.arrays(np.float32, n_terms, elements=st.floats(1.0, 9.0, width=32)))
    q = draw(hnp.arrays(np.float64, n_terms, elements=WEIGHTS))
    k = draw(st.integers(1, len(counts) + 5))
    allowed = draw(st.none() | hnp.arrays(np.bool_, len(counts)))
    return counts, idf, q, k, allowed


@settings(max_examples=200, deadline=None)
@given(counted_searches(), st.integers(1, 3), st.integers(1, 40))
def test_rows_kept_as_counts_are_searched_exactly_in_memory_written_and_loaded(
        tmp_path_factory, case, shards, block):
    counts, idf, q, k, allowed = case
    ids = [f"d{i}" for i in range(len(counts))]
    W = similarity.weigh(sp.csr_matrix(counts), idf)[0]  # the rows, by their one definition
    query = sp.csr_matrix(q.reshape(1, -1))
    folder = tmp_path_factory.mktemp("counted")
    in_memory = SimilarityIndex.from_counts(sp.csr_matrix(counts), idf, ids, shards=shards)
    in_memory.save(folder / "saved")
    writer = IndexWriter(folder / "written", counts.shape[1], shards=shards, idf=idf)
    writer.block_entries = block  # rows straddle blocks
    for start in range(0, len(counts), 7):
        writer.add(sp.csr_matrix(counts[start:start + 7]))
    writer.close(ids)
    a, b = arrays_of(folder / "saved"), arrays_of(folder / "written")
    assert sorted(a) == sorted(b) and "data" not in a and "counts" in a
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    every = in_memory.scores_of_all(query)  # the brute-force scan: the cosine, norm last
    np.testing.assert_allclose(every, (W @ q).ravel(), rtol=2e-6, atol=1e-7)
    want_rows, want_scores = ranked(every, k, allowed)
    for index in (in_memory, SimilarityIndex.load(folder / "written")):
        assert (index.matrix != W).nnz == 0
        rows, scores = index.top_k(query, k, allowed)
        np.testing.assert_array_equal(rows, want_rows)
        np.testing.assert_array_equal(scores, want_scores)
        for i in range(min(3, len(ids))):
            assert (index.row(i) != W[i]).nnz == 0


def test_rows_kept_as_counts_take_little_over_two_bytes_an_entry(tmp_path):
    rng = np.random.default_rng(3)
    counts = sp.random(2000, 500, density=0.05, format="csr", random_state=rng,
                       data_rvs=lambda n: rng.integers(1, 40, n)).astype(np.int64)
    idf = rng.uniform(1, 8, 500).astype(np.float32)
    SimilarityIndex.from_counts(counts, idf, [str(i) for i in range(2000)]).save(tmp_path / "a")
    arrays = arrays_of(tmp_path / "a")
    # terms gap-coded: a byte each, the few gaps of 255 or more escaped to two more bytes
    assert arrays["terms"].dtype == np.uint8 and arrays["counts"].dtype == np.uint8
    assert arrays["terms_wide"].dtype == np.uint16 and len(arrays["terms_wide"]) < counts.nnz / 20
    entry_bytes = sum(arrays[n].nbytes for n in ("terms", "terms_wide", "counts")) / counts.nnz
    assert entry_bytes < 2.1
    assert "data" not in arrays and "indices" not in arrays
    assert arrays["norms"].shape == (2000,) and arrays["tf"].shape == (40,)
    counts.data[0] = 1000  # a count over a byte: two bytes a count
    SimilarityIndex.from_counts(counts, idf, [str(i) for i in range(2000)]).save(tmp_path / "b")
    assert arrays_of(tmp_path / "b")["counts"].dtype == np.uint16


def test_weights_from_counts_are_the_textbook_tf_idf():
    counts = sp.csr_matrix(np.array([[1, 0, 4], [0, 0, 0], [2, 9, 0]]))
    idf = np.array([1.5, 2.0, 3.25], dtype=np.float32)
    weights, norms = similarity.weigh(counts, idf)
    dense = counts.toarray().astype(np.float64)
    tf = np.where(dense > 0, 1 + np.log(np.where(dense > 0, dense, 1)), 0) * idf
    expected = tf / np.maximum(np.linalg.norm(tf, axis=1, keepdims=True), 1e-300)
    np.testing.assert_allclose(weights.toarray(), expected, rtol=1e-6)
    assert weights.dtype == np.float32 and weights[1].nnz == 0 and norms[1] == 0


@pytest.mark.parametrize("bad", [[[1.5, 0.0]], [[-1.0, 2.0]], [[np.nan, 1.0]]])
def test_what_is_not_a_count_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="whole numbers"):
        SimilarityIndex.from_counts(sp.csr_matrix(bad), [1.0, 1.0], ["a"])
    writer = IndexWriter(tmp_path / "index", 2, idf=[1.0, 1.0])
    with pytest.raises(ValueError, match="whole numbers"):
        writer.add(sp.csr_matrix(bad))
    writer.discard()


@pytest.mark.parametrize("adding", ["compiled", "selected", "in_place"])
def test_rows_past_the_first_65536_of_a_shard_are_found_exactly(tmp_path, monkeypatch, adding):
    # Postings keep a row's two low bytes and find the rest from their segment.
    monkeypatch.setattr(similarity, "_COMPILED", adding == "compiled")  # the three ways to add
    monkeypatch.setattr(similarity, "_LONG_LISTS", 1 if adding == "in_place" else 10**9)
    rng = np.random.default_rng(11)
    n, n_terms = 200_003, 400  # 4 segments in one shard, the last one short
    counts = sp.random(n, n_terms, density=0.02, format="csr", random_state=rng,
                       data_rvs=lambda m: rng.integers(1, 6, m)).astype(np.int64)
    idf = rng.uniform(1, 5, n_terms).astype(np.float32)
    index = SimilarityIndex.from_counts(counts, idf, [str(i) for i in range(n)], shards=1)
    assert index.shards[0].segments == 4 and index.shards[0].gapped
    index.save(tmp_path / "index")
    loaded = SimilarityIndex.load(tmp_path / "index")
    W = similarity.weigh(counts, idf)[0]
    for j in (0, 65_535, 65_536, 131_072, 199_999, 200_002):  # around the segments' ends
        q = W[j]
        want_rows, want_scores = ranked(index.scores_of_all(q), 10)
        for searched in (index, loaded):
            rows, scores = searched.top_k(q, 10)
            np.testing.assert_array_equal(rows, want_rows)
            np.testing.assert_array_equal(scores, want_scores)
        assert j in want_rows.tolist()
