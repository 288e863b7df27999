"""Exact top-k dot-product (cosine) search over non-negative, L2-normalised TF-IDF rows.

The index keeps the corpus twice: document-major (for exact rescoring and shared terms)
and term-major (postings, so a query reads only its own terms). Document-major rows are
kept as what their weights are computed from (`weigh`): gap-coded terms (`model.gaps`),
counts of a byte (where they fit) and a norm a row, about 2.3 bytes an entry against
eight for float32 weights and int32 columns (`_Counts`); rows given as weights are kept
as they are. Rows are
cut into shards of at most `ROWS_PER_SHARD` consecutive rows, so that a shard's dense
score accumulator (4 bytes a row) stays about the size of a core's L2 cache; shards
are searched one after the other, or by a thread each (the compiled loops of
`model.kernels` and scipy's sparse products release the GIL), and their answers merged.
Each shard answers in passes, MaxScore style:

1. The query's cheapest terms (fewest postings per unit of score they can add) are
   summed into a dense accumulator; the best rows so far are rescored exactly, and the
   k-th best exact score is a lower bound ``theta`` on the k-th best score overall.
2. The terms whose combined upper bound (query weight times the term's largest weight)
   stays under a fifth of ``theta`` are skipped; the rest are added. A row's score is then
   at most its partial sum plus that bound, so only rows within reach of ``theta`` are
   rescored; every other row provably scores below the k-th best. The long posting
   lists of common words are the ones skipped.
3. If a weak ``theta`` leaves thousands of rows within reach, rescoring them (a gather
   of every row) would cost more than reading the skipped postings: those are added
   too, ``theta`` is raised from the now complete sums, and few rows remain.

Rescoring decodes the candidate rows with `weigh`'s arithmetic and uses the same float32
row-by-row product as ``matrix @ q``, so results (ties included) are those of a
brute-force scan of the decoded rows. The postings therefore only have to bound
the scores from above, not give them: a posting is a one-byte code, its weight rounded
*up* to a multiple of its term's scale (the term's largest weight over 255), so a
partial sum is never below the true one and every bound above stays valid. That is a
byte a posting instead of four; indexes written before hold float32 postings (no
scales) and are read as they are. A posting's row is its row within a segment of 65,536
rows, gap-coded (`_Shard`): postings take about 2.2 bytes where they took eight.

Where the install could compile them, `model.kernels` adds the postings and rescores
the candidates in one C pass each, decoding as they go, with the same float32
operations in the same order as the numpy and scipy path beside them (the same bits).

Shards searched one after the other share what they found: the k-th best exact score
of the shards already searched is a lower bound on the k-th best overall, so a later
shard starts from it and skips and rescores less.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from model import kernels
from model.gaps import decode, encode_lists, gathered
from model.ids import Ids
from model.mapped import AST_LOCK, changed, check_range, checked_rows, spans

ROWS_PER_SHARD = 500_000  # a 2 MB accumulator: scattered additions stay in L2
_PROBE_SHARE = 0.05       # share of the query's postings read before theta is known
# Skip share and many rows: chosen with the compiled kernels on 300 real queries at 1M
# and checked on 316 others (bench/README.md, "This round"): against 0.5 and 4096, p50
# -21% and p99 -13% on the 316. Fewer skipped postings, fewer rows to rescore.
_SKIP_SHARE = 0.2         # skipped terms may add at most this share of theta
_SLACK = 1e-3             # relative float32 rounding margin on every bound
# Rescoring a row (a gather of its ~200 entries) costs 1-5 us; reading a posting ~3 ns.
_RESCORE_COST = 1000      # postings worth reading rather than rescoring one row
_MANY_ROWS = 2048         # below this many candidates, rescoring them is always cheap
_LONG_LISTS = 3000        # mean postings per term from which lists are added in place
_SHARED_THETA = True      # shards searched in turn start from the k-th best found before
_COMPILED = True          # use model/kernels.py's loops where they are built (tests turn it off)


def shard_starts(n_docs, shards=None):
    """First row of each shard, then *n_docs*; by default shards of `ROWS_PER_SHARD` rows at most."""
    if shards is None:
        shards = -(-n_docs // ROWS_PER_SHARD)
    shards = max(1, min(int(shards), max(1, n_docs)))
    return np.linspace(0, n_docs, shards + 1).astype(np.int64)


def tf_table(max_count):
    """The weight of a term seen 0, 1, ... *max_count* times: 1 + ln(count) (sublinear), 0 for 0.

    Each value is ``float32(1 + math.log(count))``: the platform's scalar log in float64,
    rounded once, so the table does not depend on how numpy vectorises ``log``.

    >>> [round(v, 6) for v in tf_table(3).tolist()]
    [0.0, 1.0, 1.693147, 2.098612]
    """
    table = np.zeros(int(max_count) + 1, dtype=np.float32)
    table[1:] = [1.0 + math.log(c) for c in range(1, int(max_count) + 1)]
    return table


def weigh(counts, idf):
    """L2-normalised sublinear TF-IDF rows of a matrix of term *counts*: (weights, norms).

    The one definition of an index row's weights, used when a row is indexed, when a
    query or a live document is vectorised, and when a stored row is read back
    (`_Counts`): ``w = (tf[count] * idf[term]) / norm``, float32 throughout (products and
    quotients are correctly rounded, so the same inputs give the same bits anywhere),
    where ``norm`` is float32 of the float64 L2 norm of the row's ``tf * idf``.

    Parameters
    ----------
    counts : sparse matrix of shape (n_rows, n_terms)
        Non-negative integer counts (float counts with integer values are accepted).
    idf : float32 array of shape (n_terms,)
    """
    return _weighed(_whole_counts(counts), idf)


def _weighed(counts, idf):
    """`weigh` of counts already made whole by `_whole_counts` (the same entries, in order)."""
    values = counts.data
    tf = tf_table(values.max(initial=0))
    idf = np.asarray(idf, dtype=np.float32)
    base = tf[values] * idf[counts.indices]
    n_rows = counts.shape[0]
    lengths = np.diff(counts.indptr)
    squares = np.square(base, dtype=np.float64)
    norms = np.sqrt(np.bincount(np.repeat(np.arange(n_rows), lengths), weights=squares,
                                minlength=n_rows)).astype(np.float32)
    data = base / np.repeat(np.where(norms > 0, norms, np.float32(1)), lengths)
    return _csr32(_csr_from(data, counts.indices, counts.indptr, counts.shape)), norms


def _whole_counts(counts):
    """*counts* as a canonical CSR matrix of int64 counts, zeros dropped; ValueError if not counts."""
    counts = sp.csr_matrix(counts, copy=True)
    counts.sum_duplicates()
    values = np.asarray(counts.data)
    if len(values) and (values.min() < 0 or not np.all(np.isfinite(values))
                        or np.any(values != np.floor(values))):
        raise ValueError("counts must be non-negative whole numbers")
    counts.data = values.astype(np.int64)
    counts.eliminate_zeros()
    return counts


def gap_coded(n_terms):
    """Whether a row's terms are gap-coded: while there are at most 65,536 (see `_Counts`)."""
    return n_terms <= 2**16


def document_terms(indices, indptr, n_terms):
    """How rows' column *indices* (CSR, *indptr*) are stored: (terms, escaped terms, where
    each row's escapes begin, in *indptr*'s type), gap-coded (`model.gaps`), or
    (int32 terms, None, None) where the index has too many terms for that."""
    if not gap_coded(n_terms):
        return np.asarray(indices, dtype=np.int32), None, None
    return encode_lists(indices, indptr)


def count_type(largest):
    """How counts up to *largest* are stored: the narrowest unsigned integers that hold them."""
    return next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                if largest <= np.iinfo(t).max)


def checked_idf(idf, n_terms):
    """*idf* as float32, or ValueError unless it holds *n_terms* finite numbers >= 0."""
    idf = np.asarray(idf, dtype=np.float32)
    if idf.shape != (n_terms,) or not (np.isfinite(idf).all() and (idf >= 0).all()):
        raise ValueError(f"idf must hold {n_terms} non-negative numbers")
    return idf


class _Weights:
    """Document-major rows stored as their float32 weights: any non-negative rows, and
    every index written before rows were stored as counts."""

    def __init__(self, matrix):
        self.matrix = matrix
        self.shape = matrix.shape

    def take(self, rows):
        """Rows *rows* as a float32 CSR copy, every pointer and column checked."""
        return checked_rows(self.matrix, rows, "document")

    def scores(self, rows, dense):
        """Exact scores of *rows* for the dense query *dense*: the float32 product ``rows @ q``."""
        return np.asarray(self.take(rows) @ dense, dtype=np.float32).ravel()

    def span(self, j):
        """Row *j* as (terms, weights) arrays (views where they can be)."""
        start, stop = self.matrix.indptr[j], self.matrix.indptr[j + 1]
        return self.matrix.indices[start:stop], self.matrix.data[start:stop]

    def decoded(self):
        return self.matrix


class _Counts:
    """Document-major rows stored as what their weights are computed from (see `weigh`).

    A row's terms, their counts (the narrowest unsigned integers that hold the largest),
    one float32 norm a row, and the index's idf and `tf_table`. While the index has at
    most 65,536 terms, a row's terms are gap-coded (`model.gaps`: ``terms`` a byte an
    entry, ``wide`` the escaped terms, ``wide_indptr`` where each row's escapes begin),
    about 2.3 bytes an entry with its count where float32 weights and int32 columns
    took eight; indexes written before gap coding keep two-byte terms (``wide`` None),
    and larger vocabularies int32 terms. Reading rows back (`take`, `decoded`) decodes them with `weigh`'s
    arithmetic. A search's exact score of a row (`scores`) puts the norm last: the float32
    sum of ``tf[count] * (q * idf)[term]`` over the row's entries, in term order, divided
    by the row's norm — the same cosine, without a division an entry, and what a
    brute-force scan of every row (`SimilarityIndex.scores_of_all`) computes too.
    """

    def __init__(self, terms, counts, indptr, norms, idf, tf, shape, wide=None,
                 wide_indptr=None):
        self.terms, self.counts, self.indptr = terms, counts, indptr
        self.wide, self.wide_indptr = wide, wide_indptr
        self.norms, self.idf, self.tf = norms, idf, tf
        self.shape = tuple(int(v) for v in shape)
        self.gapped = terms.dtype == np.uint8
        if self.gapped != (wide is not None) or (wide is None) != (wide_indptr is None):
            raise ValueError("gap-coded terms come with their escapes and escape pointers")

    def _entries(self, rows):
        """The checked (terms, counts, indptr) of *rows*' entries, in row order."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, stops = spans(self.indptr, rows, len(self.terms), "document")
        where, indptr = gathered(starts, stops)
        if self.gapped:
            terms = decode(self.terms, self.wide, starts, stops,
                           *spans(self.wide_indptr, rows, len(self.wide), "document escape"))
        else:
            terms = self.terms[where]
        counts = self.counts[where]
        check_range(terms, self.shape[1], "document")
        rising = np.diff(terms.astype(np.int64)) > 0  # each row's terms: ascending, unique
        inner = indptr[1:-1]
        rising[inner[(inner > 0) & (inner < len(terms))] - 1] = True  # a new row may start lower
        if not rising.all():
            raise changed("a document's terms are not in order")
        check_range(counts, len(self.tf), "document count")
        return terms, counts, indptr

    def scores(self, rows, dense):
        """Exact scores of *rows* for the dense query *dense* (see the class)."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if self._compiled():
            scores = np.empty(len(rows), dtype=np.float32)
            try:
                kernels.row_scores(scores, rows, self.indptr, self.terms, self.counts, self.wide,
                                   self.wide_indptr, self.tf, dense * self.idf, self.norms)
            except IndexError:
                raise changed("document row pointers, escapes, terms or counts out of range") \
                    from None
        else:
            scores = self._scores(rows, dense)
        if not np.all(np.isfinite(scores)):
            raise changed("a document norm or weight is not a positive number")
        return scores

    def _compiled(self):
        """Whether `kernels.row_scores` can score these rows (the layout it reads)."""
        return (_COMPILED and kernels.row_scores is not None and self.gapped
                and self.counts.dtype == np.uint8 and self.wide.dtype == np.uint16
                and self.indptr.dtype in (np.int32, np.int64)
                and self.wide_indptr.dtype == self.indptr.dtype and self.norms.dtype == np.float32
                and self.tf.dtype == np.float32 and self.idf.dtype == np.float32
                and all(a.flags.c_contiguous for a in (self.terms, self.counts, self.indptr,
                                                       self.wide, self.wide_indptr, self.norms,
                                                       self.tf, self.idf)))

    def _scores(self, rows, dense):
        """`scores` with numpy and scipy: the entries gathered, then scipy's row product."""
        terms, counts, indptr = self._entries(rows)
        sums = _csr_from(self.tf[counts], terms.astype(np.int32), indptr,
                         (len(rows), self.shape[1])) @ (dense * self.idf)
        norms = np.asarray(self.norms[rows], dtype=np.float32)
        scores = np.zeros(len(rows), dtype=np.float32)
        np.divide(np.asarray(sums, dtype=np.float32).ravel(), norms, out=scores,
                  where=indptr[1:] > indptr[:-1])  # a row without entries scores 0
        return scores

    def take(self, rows):
        """Rows *rows* decoded to their float32 weights (`weigh`'s arithmetic), checked."""
        rows = np.asarray(rows, dtype=np.int64)
        terms, counts, indptr = self._entries(rows)
        norms = np.repeat(np.asarray(self.norms[rows], dtype=np.float32), np.diff(indptr))
        weights = (self.tf[counts] * self.idf[terms]) / norms
        if len(weights) and not (np.isfinite(weights).all() and weights.min() >= 0):
            raise changed("a document weight is not a non-negative number")
        return _csr_from(weights, terms.astype(np.int32), indptr, (len(rows), self.shape[1]))

    def span(self, j):
        row = self.take([j])
        return row.indices, row.data

    def decoded(self):
        """Every row as a float32 CSR matrix (memory for every weight: tests and benchmarks)."""
        return self.take(np.arange(self.shape[0]))


SEGMENT_BITS = 16  # postings give a row within a segment of 65,536 rows: two bytes


class _Shard:
    """Term-major postings (with shard-local rows) of the rows ``start:start + size``.

    Within a term, postings are stored by segment of ``2**SEGMENT_BITS`` rows, and
    ``pointers`` say where each (term, segment) list begins — term t's list in segment s
    is ``pointers[t * segments + s]`` up to the next pointer — so a posting's row is its
    segment's first row plus its row within the segment. Those rows are kept gap-coded
    (`model.gaps`): ``rows`` holds a byte a posting, ``wide`` the escaped rows and
    ``wide_pointers`` where each list's escapes begin. Indexes written before gap coding
    hold each row within its segment in two bytes (``rows`` uint16, no ``wide``), and
    those written before segments shard-local int32 rows and one segment (``pointers``
    is then a CSR indptr): the rows' type says which.

    ``data`` holds one-byte codes and ``scales`` each term's scale (a posting's upper
    bound is code times scale), or, in indexes written before codes, float32 weights
    and ``scales`` None. ``bounds`` is each term's largest upper bound.
    """

    def __init__(self, start, size, data, rows, pointers, bounds, scales=None, wide=None,
                 wide_pointers=None):
        self.start, self.size = int(start), int(size)
        self.data, self.rows, self.pointers = data, rows, pointers
        self.wide, self.wide_pointers = wide, wide_pointers
        self.bounds, self.scales = bounds, scales
        self.gapped = rows.dtype == np.uint8
        if self.gapped != (wide is not None) or (wide is None) != (wide_pointers is None):
            raise ValueError("gap-coded rows come with their escapes and escape pointers")
        self.segments = segments_of(self.size) if rows.dtype in (np.uint8, np.uint16) else 1
        self.n_terms = (len(pointers) - 1) // self.segments
        if len(pointers) != self.n_terms * self.segments + 1 or (
                self.gapped and len(wide_pointers) != len(pointers)):
            raise ValueError(f"{len(pointers)} posting pointers do not fit {self.segments} "
                             f"segments of a shard of {self.size} rows")
        ends = np.asarray(pointers[:: self.segments], dtype=np.int64)
        self.lengths = np.diff(ends)  # postings a term (the cost of reading it)

    @classmethod
    def of(cls, start, size, postings, bounds, scales=None):
        """A shard of term-major CSR *postings* (shard-local rows), stored by segment, gap-coded."""
        segments = segments_of(size)
        rows = np.asarray(postings.indices)
        n_terms = postings.shape[0]
        lengths = np.diff(np.asarray(postings.indptr, dtype=np.int64))
        # (term, segment) of every posting; rows are sorted within a term, so in order
        key_type = np.int32 if n_terms * segments < 2**31 else np.int64
        keys = np.repeat(np.arange(n_terms, dtype=key_type) * segments, lengths)
        keys += (rows >> SEGMENT_BITS).astype(key_type)
        pointers = np.zeros(n_terms * segments + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=n_terms * segments), out=pointers[1:])
        del keys
        gaps, wide, wide_pointers = encode_lists(rows & ((1 << SEGMENT_BITS) - 1), pointers)
        return cls(start, size, postings.data, gaps, pointers, bounds, scales, wide,
                   wide_pointers)

    def _pointers(self, terms, pointers=None):
        """The checked (term, segment) pointers of *terms*: one row of segments + 1 per term."""
        pointers, limit = (self.pointers, len(self.rows)) if pointers is None else \
            (pointers, len(self.wide))
        at = np.asarray(terms, dtype=np.int64)[:, None] * self.segments + np.arange(
            self.segments + 1)
        found = np.asarray(pointers[at], dtype=np.int64)
        if found.size and (found.min() < 0 or found.max() > limit
                           or np.any(np.diff(found, axis=1) < 0)):
            raise changed("postings row pointers out of range")
        return found

    def _rows_of(self, terms):
        """Shard-local int32 rows of *terms*' postings (their lists one after the other), checked."""
        pointers = self._pointers(terms)
        starts, stops = pointers[:, :-1].ravel(), pointers[:, 1:].ravel()
        if self.gapped:
            wide = self._pointers(terms, self.wide_pointers)
            rows = decode(self.rows, self.wide, starts, stops, wide[:, :-1].ravel(),
                          wide[:, 1:].ravel())
            check_range(rows, 1 << SEGMENT_BITS, "postings")  # a changed gap adds up past it
            rows = rows.astype(np.int32)
        else:
            rows = self.rows[gathered(starts, stops)[0]].astype(np.int32)
        if self.segments > 1:
            firsts = np.arange(self.segments, dtype=np.int32) << SEGMENT_BITS
            rows += np.repeat(np.tile(firsts, len(pointers)), stops - starts)
        check_range(rows, self.size, "postings")
        return rows, pointers

    def select(self, terms):
        """The postings of *terms* as a CSR matrix (a row a term), float32 data, checked."""
        rows, pointers = self._rows_of(terms)
        where, indptr = gathered(pointers[:, 0], pointers[:, -1])
        return _csr_from(self.data[where].astype(np.float32), rows, indptr,
                         (len(pointers), self.size))

    def each(self, terms):
        """(int32 rows, data) of each of *terms*' posting lists in turn, checked."""
        for term in np.asarray(terms, dtype=np.int64).tolist():
            rows, pointers = self._rows_of([term])
            yield rows, self.data[pointers[0, 0]:pointers[0, -1]]


def segments_of(size):
    """How many segments of ``2**SEGMENT_BITS`` rows a shard of *size* rows has (at least 1)."""
    return max(1, -(-int(size) >> SEGMENT_BITS))


class SimilarityIndex:
    """Exact top-k cosine search over a corpus of L2-normalised TF-IDF rows.

    Parameters
    ----------
    matrix : sparse matrix of shape (n_docs, n_terms)
        Non-negative rows (cosine = dot product when they are L2-normalised).
    ids : sequence of str
        Document id of each row (kept as `model.ids.Ids`).
    shards : int, optional
        How many row ranges to cut the corpus into (default: ranges of at most
        `ROWS_PER_SHARD` rows).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> index = SimilarityIndex(sp.csr_matrix([[1.0, 0.0], [0.6, 0.8]]), ["a", "b"])
    >>> rows, scores = index.top_k(sp.csr_matrix([[0.0, 1.0]]), k=5)
    >>> rows.tolist(), scores.tolist()
    ([1], [0.800000011920929])
    """

    def __init__(self, matrix, ids, shards=None):
        matrix = _csr32(matrix)
        if matrix.shape[0] != len(ids):
            raise ValueError(f"{matrix.shape[0]} rows but {len(ids)} ids")
        if matrix.nnz and matrix.data.min() < 0:
            raise ValueError("the index needs non-negative weights (TF-IDF rows); "
                             "got a negative entry")
        self._attach(_Weights(matrix), Ids.of(ids), _shards_of(matrix, shards))

    @classmethod
    def from_counts(cls, counts, idf, ids, shards=None):
        """An index of rows given by their term *counts* and the terms' *idf* (see `weigh`).

        It keeps the counts, not the weights (see `_Counts`); its rows are
        ``weigh(counts, idf)[0]``.
        """
        counts = _whole_counts(counts)
        if counts.shape[0] != len(ids):
            raise ValueError(f"{counts.shape[0]} rows but {len(ids)} ids")
        idf = checked_idf(idf, counts.shape[1])
        weights, norms = _weighed(counts, idf)
        largest = int(counts.data.max(initial=0))
        terms, wide, wide_indptr = document_terms(counts.indices, weights.indptr, counts.shape[1])
        rows = _Counts(terms, counts.data.astype(count_type(largest)), weights.indptr, norms, idf,
                       tf_table(largest), weights.shape, wide, wide_indptr)
        index = cls.__new__(cls)
        index._attach(rows, Ids.of(ids), _shards_of(weights, shards))
        return index

    def _attach(self, rows, ids, shards, threads=1):
        self.rows = rows  # `_Weights` or `_Counts`
        self.ids = ids
        self.shards = shards
        self.threads = threads  # > 1: shards searched in parallel (see `load`)
        self._pool, self._pool_pid = None, None
        self._pool_lock = threading.Lock()

    def __len__(self):
        return self.rows.shape[0]

    @property
    def n_terms(self):
        """Width of the rows (the vocabulary size)."""
        return self.rows.shape[1]

    @property
    def matrix(self):
        """Every row's weights as one float32 CSR matrix (decoded when stored as counts:
        memory for every weight; for tests and benchmarks, not for serving)."""
        return self.rows.decoded()

    def top_k(self, query, k, allowed=None):
        """Rows and scores of the *k* best matches, best first; ties go to the lower row.

        Parameters
        ----------
        query : sparse matrix of shape (1, n_terms)
            Non-negative weights, normally an L2-normalised TF-IDF row.
        k : int
            How many rows at most.
        allowed : array of bool, optional
            Rows where it is False never appear (deleted or filtered documents).

        Returns
        -------
        rows : int array, scores : float32 array
            Rows scoring zero never appear, so there may be fewer than *k*.
        """
        terms, weights = self._query_terms(query)
        if k <= 0 or len(terms) == 0 or len(self) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        dense = np.zeros(self.n_terms, dtype=np.float32)
        dense[terms] = weights
        args = (terms, weights, dense, k, allowed)
        if len(self.shards) == 1:
            return self._search(self.shards[0], *args)
        if self.threads > 1:
            found = list(self._executor().map(lambda s: self._search(s, *args), self.shards))
            return _merged(found, k)
        best = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        for shard in self.shards:  # each starts from the k best of the shards before it
            theta = float(best[1][k - 1]) if len(best[1]) >= k and _SHARED_THETA else 0.0
            best = _merged([best, self._search(shard, *args, theta=theta)], k)
        return best

    def _executor(self):
        # Threads do not survive a fork: a forked worker makes its own pool on first use.
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="similarity")
                self._pool_pid = os.getpid()
            return self._pool

    def _query_terms(self, query):
        q = sp.csr_matrix(query)
        if q.shape != (1, self.n_terms):
            raise ValueError(f"query must have shape (1, {self.n_terms}), got {q.shape}")
        if not q.has_canonical_format:
            q = q.copy()
            q.sum_duplicates()
        keep = q.data != 0
        if np.any(q.data[keep] < 0):
            raise ValueError("query weights must be non-negative (a TF-IDF row)")
        return q.indices[keep], np.asarray(q.data[keep], dtype=np.float32)

    def _search(self, shard, terms, weights, dense, k, allowed, theta=0.0):
        """The best k rows of one shard (global rows) with their exact scores.

        *theta* is a known lower bound on the k-th best score (rows scoring below it are
        not wanted); the shard's own k-th best exact score may raise it.
        """
        present = shard.lengths[terms] > 0
        terms, weights = terms[present], weights[present]
        if allowed is not None:
            allowed = allowed[shard.start:shard.start + shard.size]
        if len(terms) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        bound = weights * _checked_bounds(shard.bounds[terms], "bounds")
        cost = shard.lengths[terms]
        order = np.argsort(cost / np.maximum(bound, 1e-30), kind="stable")
        probe = order[: max(1, np.searchsorted(np.cumsum(cost[order]), _PROBE_SHARE * cost.sum()))]
        acc = _accumulate(shard, terms[probe], weights[probe])
        theta = max(theta, self._kth_exact(shard, acc, dense, k, allowed))
        rest = order[len(probe):][::-1]  # most postings per unit of bound first
        skipped = np.cumsum(bound[rest], dtype=np.float64) < _SKIP_SHARE * theta
        added, skipped = rest[~skipped], rest[skipped]
        if len(added):
            acc += _accumulate(shard, terms[added], weights[added])
        rows = self._candidates(acc, theta, bound[skipped])
        if len(rows) > _MANY_ROWS and len(rows) * _RESCORE_COST > cost[skipped].sum():
            # a weak theta left too many rows to rescore: read the skipped postings too
            acc += _accumulate(shard, terms[skipped], weights[skipped])
            theta = max(theta, self._kth_exact(shard, acc, dense, k, allowed))
            rows = self._candidates(acc, theta, bound[:0])
        return self._best(shard, rows, dense, k, allowed)

    @staticmethod
    def _candidates(acc, theta, unread):
        """Rows that may still reach theta once the *unread* bounds are added."""
        floor = theta * (1 - _SLACK) - float(unread.sum(dtype=np.float64)) * (1 + _SLACK)
        return np.flatnonzero(acc >= floor) if floor > 0 else np.flatnonzero(acc)

    def _exact(self, shard, rows, dense):
        return self.rows.scores(rows + shard.start, dense)

    def scores_of_all(self, query):
        """Every row's exact score for *query*, as `top_k` computes it: the brute-force scan
        its answers equal (for tests and benchmarks; it reads the whole index)."""
        terms, weights = self._query_terms(query)
        dense = np.zeros(self.n_terms, dtype=np.float32)
        dense[terms] = weights
        return self.rows.scores(np.arange(len(self)), dense)

    def row(self, i):
        """Row *i* of the corpus matrix (a checked copy: the files may change under us)."""
        row = self.rows.take([i])
        if not (np.isfinite(row.data).all() and (row.data >= 0).all()):
            raise changed("a document weight is not a non-negative number")
        return row

    def _kth_exact(self, shard, acc, dense, k, allowed):
        """A lower bound on the k-th best score: the k-th best exact score of promising rows."""
        m = 4 * k + 16
        top = float(acc.max())
        for share in (0.5, 0.2, 0.05):  # the rows near the best partial score, cheaply
            rows = np.flatnonzero(acc >= share * top)
            if allowed is not None:
                rows = rows[allowed[rows]]
            if len(rows) >= k:
                break
        else:  # a strict mask: the best partial scores among allowed rows
            rows = np.flatnonzero(acc if allowed is None else acc * allowed)
        if len(rows) > m:
            rows = rows[np.argpartition(-acc[rows], m - 1)[:m]]
        exact = self._exact(shard, rows, dense)
        if np.count_nonzero(exact) < k:
            return 0.0
        return float(np.partition(exact, len(exact) - k)[len(exact) - k])

    def _best(self, shard, rows, dense, k, allowed):
        if allowed is not None:
            rows = rows[allowed[rows]]
        scores = self._exact(shard, rows, dense)
        positive = scores > 0
        rows, scores = rows[positive], scores[positive]
        if len(rows) > k:
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            keep = scores > kth
            keep[np.flatnonzero(scores == kth)[: k - int(keep.sum())]] = True  # lowest rows
            rows, scores = rows[keep], scores[keep]
        order = np.lexsort((rows, -scores))
        return rows[order].astype(np.int64) + shard.start, scores[order]

    def save(self, folder):
        """Write the index into a new *folder* with `IndexWriter`, the one writer of the layout."""
        from model.index_writer import IndexWriter  # it builds on this module

        rows = self.rows
        if isinstance(rows, _Counts):
            writer = IndexWriter(folder, self.n_terms, shards=len(self.shards), idf=rows.idf)
            terms, counts, indptr = rows._entries(np.arange(rows.shape[0]))
            writer.add(_csr_from(np.asarray(counts), terms.astype(np.int32), indptr, rows.shape))
        else:
            writer = IndexWriter(folder, self.n_terms, shards=len(self.shards))
            writer.add(rows.matrix)
        writer.close(self.ids)

    @classmethod
    def load(cls, folder, mmap=True, threads=1):
        """Read an index written by `save` or `IndexWriter`.

        Arrays are memory-mapped unless *mmap* is False: loading copies nothing, and
        every process that maps the files (or is forked after loading them) shares one
        copy. With *threads* > 1 the shards are searched in parallel: that shortens a
        query only while a core is idle, so a server whose workers already keep every
        core busy should keep the default, 1.
        """
        folder = Path(folder)

        def array(name):
            # np.asarray: a plain ndarray view, without np.memmap's per-slice overhead
            with AST_LOCK:  # its header is parsed with `ast` (see `AST_LOCK`)
                value = np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None,
                                allow_pickle=False)
            return np.asarray(value)

        def optional(name):  # written before gap coding: not there
            return array(name) if (folder / f"{name}.npy").exists() else None

        n_docs, n_terms = (int(v) for v in array("shape"))
        if (folder / "counts.npy").exists():
            rows = _Counts(array("terms"), array("counts"), array("indptr"), array("norms"),
                           array("idf"), array("tf"), (n_docs, n_terms), optional("terms_wide"),
                           optional("terms_wide_indptr"))
        else:  # written before rows were stored as counts: float32 weights
            rows = _Weights(_csr_from(array("data"), array("indices"), array("indptr"),
                                      (n_docs, n_terms)))
        starts = array("shard_starts")

        shards = [_Shard(a, b - a, array(f"postings_data_{i}"), array(f"postings_rows_{i}"),
                         array(f"postings_indptr_{i}"), array(f"bounds_{i}"),
                         optional(f"scales_{i}"),  # none before codes: float32 postings
                         optional(f"postings_wide_{i}"), optional(f"postings_wide_indptr_{i}"))
                  for i, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True))]
        index = cls.__new__(cls)  # written by us: already checked, nothing to recompute
        index._attach(rows, Ids.load(array, lambda name: (folder / f"{name}.npy").exists()),
                      shards, threads)
        return index


def _shards_of(matrix, shards=None):
    """The `_Shard` (term-major postings) of each row range of a float32 CSR *matrix*."""
    starts = shard_starts(matrix.shape[0], shards)
    return [_Shard.of(a, b - a, *quantized(_csr32(matrix[a:b].T)))
            for a, b in zip(starts[:-1], starts[1:], strict=True)]


def _accumulate(shard, terms, weights):
    """Sum of the given terms' postings times their weights, as a dense vector.

    Where the compiled kernels are built (model/kernels.py), `kernels.add_postings` adds
    every list in one pass, widening each two-byte row and one-byte code as it adds it.
    Otherwise each posting list is added straight from the (mapped) index by scipy's compiled
    sparse matrix-vector kernel, one list at a time: selecting the rows first
    (``postings[terms].T @ weights``) copies every posting before adding it, which
    took half the time at 1M (15 against 7 ms for a whole 500k-row shard). Short lists
    (under `_LONG_LISTS` postings a term on average) are still selected first: one
    call beats a Python-level call per term there. Either way the sums are bit-for-bit
    the same: the same float32 additions in the same order. With one-byte codes the
    weights are the query's times the terms' scales, and the codes are widened to
    float32 on the way (a list at a time).
    """
    lengths = shard.lengths[terms]
    if shard.scales is not None:
        # At least float32's smallest normal number: a product that underflowed would
        # drop a row with a tiny but positive score (rounding up keeps every bound).
        weights = np.maximum(weights * _checked_bounds(shard.scales[terms], "scales"),
                             np.finfo(np.float32).tiny)
    if (_COMPILED and kernels.add_postings is not None and shard.scales is not None
            and shard.gapped and shard.data.dtype == np.uint8):
        out = np.zeros(shard.size, dtype=np.float32)
        try:
            kernels.add_postings(out, shard.rows, shard.data, shard._pointers(terms), shard.wide,
                                 shard._pointers(terms, shard.wide_pointers), weights)
        except IndexError:
            raise changed("postings rows out of range") from None
        return out
    kernel = _matvec_kernel()
    if kernel is None or lengths.sum() < _LONG_LISTS * len(terms):
        postings = shard.select(terms)
        return np.asarray(postings.T @ weights, dtype=np.float32).ravel()
    out = np.zeros(shard.size, dtype=np.float32)
    column = np.zeros(2, dtype=np.int32)  # one column: postings 0..length
    weight = np.empty(1, dtype=np.float32)
    wide = np.empty(int(lengths.max(initial=0)) if shard.scales is not None else 0, dtype=np.float32)
    for (posted, values), w in zip(shard.each(terms), weights.tolist(), strict=True):
        # rows widened and checked: the kernel adds at them unchecked
        column[1], weight[0] = len(posted), w
        if shard.scales is not None:  # codes widened to float32
            codes, values = values, wide[: len(posted)]
            values[:] = codes
        kernel(shard.size, 1, column, posted, values, weight, out)
    return out


def _checked_bounds(values, what):
    """A copy of mapped *values* (scales or bounds), each a finite number >= 0, or `IndexChanged`.

    A NaN or negative one would prune rows that belong in the answer, silently.
    """
    values = np.array(values, dtype=np.float32)
    if not np.all(np.isfinite(values) & (values >= 0)):
        raise changed(f"a term's {what} is not a non-negative number")
    return values


def _merged(found, k):
    """The k best of several (rows, scores) answers, best first; ties go to the lower row."""
    rows = np.concatenate([r for r, _ in found])
    scores = np.concatenate([s for _, s in found])
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


def _checked_csc_matvec():
    """scipy's private ``csc_matvec`` kernel if it is there and adds as expected, else None.

    It is not public API, so a scipy release that moves or changes it must only cost
    speed: `_accumulate` then selects the rows with public indexing instead.
    """
    try:
        from scipy.sparse._sparsetools import csc_matvec

        out = np.array([1.0, 0.0, 0.0], dtype=np.float32)
        csc_matvec(3, 1, np.array([0, 2], dtype=np.int32), np.array([0, 2], dtype=np.int32),
                   np.array([0.5, 2.0], dtype=np.float32), np.array([2.0], dtype=np.float32),
                   out)
    except Exception:  # noqa: BLE001 - any failure means: do not use it
        return None
    return csc_matvec if out.tolist() == [2.0, 0.0, 4.0] else None


_UNCHECKED = object()
_csc_matvec = _UNCHECKED  # the kernel once checked (None: not usable); see `_matvec_kernel`


def _matvec_kernel():
    """`_checked_csc_matvec`, run on the first query that needs it rather than on import."""
    global _csc_matvec
    if _csc_matvec is _UNCHECKED:
        _csc_matvec = _checked_csc_matvec()  # a race only checks twice: same answer
    return _csc_matvec


def _csr32(matrix):
    """A CSR copy (or view) with float32 weights, sorted indices, one index dtype."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    idx = np.int32 if m.nnz < 2**31 and max(m.shape) < 2**31 else np.int64
    if m.indices.dtype != idx or m.indptr.dtype != idx:
        m = sp.csr_matrix((m.data, m.indices.astype(idx), m.indptr.astype(idx)), shape=m.shape)
    return m


def _csr_from(data, indices, indptr, shape):
    m = sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


def _term_bounds(postings):
    """Each term's largest weight (0 for a term no document has)."""
    bounds = np.zeros(postings.shape[0], dtype=np.float32)
    present = np.diff(postings.indptr) > 0
    if present.any():
        bounds[present] = np.maximum.reduceat(postings.data, postings.indptr[:-1][present])
    return bounds


CODE_MAX = 255  # one byte a posting
_CODE_CHUNK = 1 << 22  # postings coded at a time (whole terms), to bound the float64 scratch


def quantized(postings):
    """Float32 term-major *postings* as (codes, bounds, scales): each weight rounded up.

    A term's scale is just over its largest weight / `CODE_MAX`, so every weight ``w``
    has a code ``ceil(w / scale)`` from 1 to `CODE_MAX` with ``code * scale >= w``; a
    term's bound is `CODE_MAX` times its scale. Only pruning reads the codes (exact
    scores come from the document-major rows), and an upper bound is all it needs.
    """
    largest = _term_bounds(postings)
    scales = np.nextafter((largest / np.float32(CODE_MAX)).astype(np.float32), np.float32(np.inf))
    scales[largest == 0] = 0
    divisors = np.where(scales > 0, scales, 1).astype(np.float64)
    codes = np.empty(postings.nnz, dtype=np.uint8)
    indptr = np.asarray(postings.indptr, dtype=np.int64)
    # Whole terms at a time, about `_CODE_CHUNK` postings each: a shard's worth of float64
    # at once would be 8 bytes a posting.
    firsts = np.unique(np.searchsorted(indptr, np.arange(0, postings.nnz, _CODE_CHUNK),
                                       side="right") - 1)
    for t0, t1 in zip(firsts.tolist(), [*firsts[1:].tolist(), len(scales)][: len(firsts)],
                      strict=True):
        a, b = indptr[t0], indptr[t1]
        per_posting = np.repeat(divisors[t0:t1], np.diff(indptr[t0:t1 + 1]))
        codes[a:b] = np.clip(np.ceil(postings.data[a:b] / per_posting), 1, CODE_MAX)
    coded = _csr_from(codes, postings.indices, postings.indptr, postings.shape)
    bounds = (scales * np.float32(CODE_MAX)).astype(np.float32)
    return coded, bounds, scales
