"""The compiled search loops (model/kernels.py) give numpy's and scipy's bits, and check what they read."""

import numpy as np
import pytest
import scipy.sparse as sp

from model import kernels, similarity
from model.mapped import IndexChanged
from model.similarity import SimilarityIndex


def test_the_compiled_kernels_are_built():
    # `make test` installs with a C compiler: the fast path must be the one tested
    assert kernels.add_postings is not None and kernels.row_scores is not None, kernels.MISSING


@pytest.fixture(scope="module")
def counted():
    """A 150,001-row shard (3 segments, the last short) of power-law counts, and its weights."""
    rng = np.random.default_rng(5)
    n, n_terms = 150_001, 300
    p = 1.0 / np.arange(1, n_terms + 1) ** 1.1
    lengths = rng.integers(1, 30, n)
    terms = rng.choice(n_terms, size=int(lengths.sum()), p=p / p.sum())
    rows = np.repeat(np.arange(n), lengths)
    counts = sp.csr_matrix((np.ones(len(terms), dtype=np.int64), (rows, terms)), shape=(n, n_terms))
    idf = rng.uniform(1, 9, n_terms).astype(np.float32)
    index = SimilarityIndex.from_counts(counts, idf, [str(i) for i in range(n)], shards=1)
    assert index.shards[0].segments == 3
    return index, similarity.weigh(counts, idf)[0]


def queries(W, rng, n=12):
    for j in rng.choice(W.shape[0], n, replace=False):
        yield W[j]
    for _ in range(n):  # long queries: most of the vocabulary
        terms = np.unique(rng.integers(0, W.shape[1], 200))
        yield sp.csr_matrix((rng.random(len(terms)).astype(np.float32) + 0.01,
                             (np.zeros(len(terms), dtype=int), terms)), shape=(1, W.shape[1]))


@pytest.mark.parametrize("numpy_in_place", [False, True])
def test_postings_are_added_to_the_same_bits(counted, monkeypatch, numpy_in_place):
    index, W = counted
    shard = index.shards[0]
    for q in queries(W, np.random.default_rng(1)):
        terms, weights = index._query_terms(q)
        monkeypatch.setattr(similarity, "_COMPILED", True)
        compiled = similarity._accumulate(shard, terms, weights)
        monkeypatch.setattr(similarity, "_COMPILED", False)
        monkeypatch.setattr(similarity, "_LONG_LISTS", 0 if numpy_in_place else 10**9)
        plain = similarity._accumulate(shard, terms, weights)
        assert compiled.dtype == np.float32 and compiled.any()
        np.testing.assert_array_equal(compiled.view(np.uint32), plain.view(np.uint32))


@pytest.mark.parametrize("pointers", [np.int32, np.int64])  # as an index of < or >= 2**31 entries
def test_rows_are_scored_to_the_same_bits(counted, monkeypatch, pointers):
    index, W = counted
    monkeypatch.setattr(index.rows, "indptr", index.rows.indptr.astype(pointers))
    monkeypatch.setattr(index.rows, "wide_indptr", index.rows.wide_indptr.astype(pointers))
    assert index.rows._compiled()
    rng = np.random.default_rng(2)
    for q in queries(W, rng):
        dense = np.zeros(W.shape[1], dtype=np.float32)
        terms, weights = index._query_terms(q)
        dense[terms] = weights
        rows = rng.integers(0, W.shape[0], 5000)
        monkeypatch.setattr(similarity, "_COMPILED", True)
        compiled = index.rows.scores(rows, dense)
        monkeypatch.setattr(similarity, "_COMPILED", False)
        plain = index.rows.scores(rows, dense)
        assert compiled.any()
        np.testing.assert_array_equal(compiled.view(np.uint32), plain.view(np.uint32))


def test_searches_answer_alike_with_and_without_them(counted, monkeypatch, tmp_path):
    index, W = counted
    index.save(tmp_path / "index")
    loaded = SimilarityIndex.load(tmp_path / "index")  # mapped, read-only arrays
    for q in queries(W, np.random.default_rng(3), n=6):
        monkeypatch.setattr(similarity, "_COMPILED", False)
        want_rows, want_scores = index.top_k(q, 10)
        monkeypatch.setattr(similarity, "_COMPILED", True)
        for searched in (index, loaded):
            rows, scores = searched.top_k(q, 10)
            np.testing.assert_array_equal(rows, want_rows)
            np.testing.assert_array_equal(scores.view(np.uint32), want_scores.view(np.uint32))


def postings(gaps, codes, pointers, wide, wide_pointers, weights, size):
    out = np.zeros(size, dtype=np.float32)
    kernels.add_postings(out, np.asarray(gaps, dtype=np.uint8), np.asarray(codes, dtype=np.uint8),
                         np.asarray(pointers, dtype=np.int64), np.asarray(wide, dtype=np.uint16),
                         np.asarray(wide_pointers, dtype=np.int64), np.asarray(weights, np.float32))
    return out


def test_add_postings_decodes_gaps_and_escapes_at_each_segment_first_row():
    # term 0: rows 3 and 300 (escaped) in segment 0, 65,536 + 1 in segment 1; term 1: row 3
    out = postings([3, 255, 1, 3], [2, 4, 1, 5], [[0, 2, 3], [3, 4, 4]], [300],
                   [[0, 1, 1], [1, 1, 1]], [0.5, 8.0], 70_000)
    assert out[3] == 2 * 0.5 + 5 * 8.0 and out[300] == 4 * 0.5 and out[65_537] == 1 * 0.5
    assert np.count_nonzero(out) == 3


GOOD = dict(gaps=[3, 6], codes=[1, 1], pointers=[[0, 2]], wide=[], wide_pointers=[[0, 0]],
            weights=[1.0], size=100)


@pytest.mark.parametrize("change", [
    dict(size=9),                                         # a row (9) past the shard's end
    dict(gaps=[3, 250]),                                  # gaps adding up past it
    dict(gaps=[255, 6], wide=[120], wide_pointers=[[0, 1]]),  # an escaped row past it
    dict(gaps=[255, 6]),                                  # an escape with none left
    dict(pointers=[[0, 3]]),                              # a list past the postings' end
    dict(pointers=[[1, 0]]),                              # a list ending before it starts
    dict(pointers=[[-1, 1]]),                             # a negative pointer
    dict(wide_pointers=[[0, 1]]),                         # escapes past the escaped rows
    dict(wide_pointers=[[-1, 0]]),                        # a negative escape pointer
    dict(pointers=[[0, 1, 2]], wide_pointers=[[0, 0, 0]], size=65_536 + 5,
         gaps=[3, 9]),                                    # past the end, in the last segment
])
def test_add_postings_refuses_what_is_out_of_range(change):
    postings(**GOOD)  # as given, fine
    with pytest.raises(IndexError):
        postings(**{**GOOD, **change})


def test_add_postings_refuses_arrays_of_other_types():
    out = np.zeros(4, dtype=np.float32)
    rest = (np.zeros(1, dtype=np.uint8), np.zeros((1, 2), dtype=np.int64),
            np.zeros(0, dtype=np.uint16), np.zeros((1, 2), dtype=np.int64),
            np.ones(1, dtype=np.float32))
    with pytest.raises(TypeError, match="gaps"):
        kernels.add_postings(out, np.zeros(1, dtype=np.uint16), *rest)
    read_only = np.zeros(4, dtype=np.float32)
    read_only.setflags(write=False)
    for bad_out, error in [(read_only, "read-only"), (out[::-1], "contiguous"),
                           (np.zeros(4), "out must be")]:  # float64
        with pytest.raises((TypeError, ValueError), match=error):
            kernels.add_postings(bad_out, np.zeros(1, dtype=np.uint8), *rest)
    with pytest.raises(ValueError, match="segments"):
        kernels.add_postings(out, np.zeros(1, dtype=np.uint8), np.zeros(1, dtype=np.uint8),
                             np.zeros(3, dtype=np.int64), np.zeros(0, dtype=np.uint16),
                             np.zeros(3, dtype=np.int64), np.ones(2, dtype=np.float32))


def scores(rows, indptr, gaps, counts, wide=(), wide_indptr=None, n_terms=4, tf_len=3,
           pointers=np.int64):
    out = np.empty(len(rows), dtype=np.float32)
    wide_indptr = [0] * len(indptr) if wide_indptr is None else wide_indptr
    kernels.row_scores(out, np.asarray(rows, dtype=np.int64), np.asarray(indptr, dtype=pointers),
                       np.asarray(gaps, dtype=np.uint8), np.asarray(counts, dtype=np.uint8),
                       np.asarray(wide, dtype=np.uint16), np.asarray(wide_indptr, dtype=pointers),
                       np.array([0, 1, 2], dtype=np.float32)[:tf_len],
                       np.arange(1, n_terms + 1, dtype=np.float32),
                       np.full(len(indptr) - 1, 2, dtype=np.float32))
    return out


@pytest.mark.parametrize("pointers", [np.int32, np.int64])
def test_row_scores_sum_in_order_then_divide_by_the_norm(pointers):
    # row 0: terms 0, 3 (gaps 0, 3): tf[1]*q[0] + tf[2]*q[3] = 1 + 8; row 1: no entries;
    # row 2: term 1 given whole (an escape): tf[2]*q[1] = 4
    got = scores([2, 0, 1], [0, 2, 2, 3], [0, 3, 255], [1, 2, 2], wide=[1],
                 wide_indptr=[0, 0, 0, 1], pointers=pointers)
    assert got.tolist() == [2.0, 4.5, 0.0]
    with pytest.raises(TypeError, match="indptr"):  # pointers of another type
        scores([0], [0, 1], [0], [1], pointers=np.uint16)


@pytest.mark.parametrize("change", [
    dict(rows=[3]),                           # a row past the index
    dict(rows=[-1]),                          # a negative row
    dict(indptr=[0, 1, 9, 3]),                # a pointer past the entries
    dict(indptr=[0, 2, 1, 3]),                # a row ending before it starts
    dict(gaps=[4, 1, 2]),                     # a term past the vocabulary
    dict(gaps=[1, 1, 2], rows=[0]),           # (fine: term 1)
    dict(counts=[3, 1, 1]),                   # a count past the tf table
    dict(gaps=[255, 1, 2]),                   # an escape with none left
    dict(gaps=[255, 1, 2], wide=[7], wide_indptr=[0, 1, 1, 1]),  # an escaped term past it
    dict(wide_indptr=[0, 2, 2, 2]),           # escape pointers past the escapes
])
@pytest.mark.parametrize("pointers", [np.int32, np.int64])
def test_row_scores_refuse_what_is_out_of_range(change, pointers):
    good = dict(rows=[0, 1, 2], indptr=[0, 1, 2, 3], gaps=[0, 1, 2], counts=[1, 1, 1])
    scores(**good, pointers=pointers)
    if change == dict(gaps=[1, 1, 2], rows=[0]):
        assert scores(**{**good, **change}, pointers=pointers).tolist() == [1.0]
        return
    with pytest.raises(IndexError):
        scores(**{**good, **change}, pointers=pointers)


def test_a_changed_row_is_an_index_changed_error_from_the_compiled_path(counted, tmp_path):
    index, W = counted
    index.save(tmp_path / "index")
    loaded = SimilarityIndex.load(tmp_path / "index", mmap=False)  # writable copies
    loaded.shards[0].rows[-3:] = 250  # gaps adding up past the last, short segment
    loaded.rows.terms[5:8] = 250      # past the vocabulary of 300
    with pytest.raises(IndexChanged):
        similarity._accumulate(loaded.shards[0], np.arange(W.shape[1]),
                               np.ones(W.shape[1], dtype=np.float32))
    with pytest.raises(IndexChanged):
        loaded.rows.scores(np.arange(10), np.ones(W.shape[1], dtype=np.float32))
