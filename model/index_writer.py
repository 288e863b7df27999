"""The one writer of a similarity index's files (read back by `SimilarityIndex.load`).

An index folder holds one .npy file per array: the document-major rows (``shape``,
``indptr``, the ids (``ids_utf8``, ``ids_ends``, ``ids_hashes``, ``ids_by_hash``: see
`model.ids.Ids`), and either what their weights are computed from — ``terms`` (gap-coded,
with ``terms_wide`` and ``terms_wide_indptr``: see `model.gaps`), ``counts``, ``norms``,
``idf`` and ``tf`` (see `model.similarity.weigh`) — or, for rows given as weights,
``data`` and ``indices``), ``shard_starts``, and per shard its term-major postings
(``postings_data_i``: one-byte codes; ``postings_rows_i``: each posting's row within its
segment of 65,536 rows, gap-coded, with ``postings_wide_i`` and
``postings_wide_indptr_i``; ``postings_indptr_i``: where each term's list in each
segment begins, see `model.similarity._Shard`), each term's
scale (``scales_i``: a posting's weight is at most its code times its term's scale) and
each term's largest upper bound (``bounds_i``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from model.gaps import encode
from model.ids import Ids
from model.similarity import (
    _csr_from,
    _Shard,
    _weighed,
    _whole_counts,
    checked_idf,
    count_type,
    gap_coded,
    quantized,
    shard_starts,
    tf_table,
)


def _save_shard(folder, i, shard):
    np.save(folder / f"postings_data_{i}.npy", shard.data)
    np.save(folder / f"postings_rows_{i}.npy", shard.rows)
    np.save(folder / f"postings_indptr_{i}.npy", shard.pointers)
    if shard.gapped:
        np.save(folder / f"postings_wide_{i}.npy", shard.wide)
        np.save(folder / f"postings_wide_indptr_{i}.npy", shard.wide_pointers)
    np.save(folder / f"bounds_{i}.npy", shard.bounds)
    np.save(folder / f"scales_{i}.npy", shard.scales)


def _save_chunks(path, chunks, dtype, length):
    """Write a 1-d .npy of *length* items from an iterable of chunks, never holding it whole."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(length,))
    start = 0
    for chunk in chunks:
        out[start:start + len(chunk)] = chunk
        start += len(chunk)
    out.flush()
    del out  # unmaps the file


class IndexWriter:
    """Build an index file from row blocks without holding the corpus twice in memory.

    Rows go to scratch files beside *folder* as they come; `close` builds each shard's
    term-major postings from them, one shard and one block at a time, and writes the
    same files as `SimilarityIndex.save`. Peak memory is about one shard's postings.

    Parameters
    ----------
    folder : path-like
        The index folder to write (it must not exist yet).
    n_terms : int
        Width of every row block.
    shards : int, optional
        As for `SimilarityIndex`.
    idf : array of n_terms floats, optional
        Given, blocks are term counts and the index keeps them (rows are
        ``model.similarity.weigh(counts, idf)``); otherwise blocks are float32 weights.
    """

    block_entries = 1 << 23  # entries in memory at once while building the postings

    def __init__(self, folder, n_terms, shards=None, idf=None):
        self.path = Path(folder)
        self.n_terms = int(n_terms)
        self.shards = shards
        self.idf = None if idf is None else checked_idf(idf, self.n_terms)
        self._cols = np.int32 if self.n_terms < 2**31 else np.int64
        self._data = open(self.path.with_name(self.path.name + ".data.tmp"), "wb+")
        self._indices = open(self.path.with_name(self.path.name + ".indices.tmp"), "wb+")
        self._counts = open(self.path.with_name(self.path.name + ".counts.tmp"), "wb+") \
            if self.idf is not None else None
        self._row_lengths, self._norms, self._largest = [], [], 0

    def add(self, rows):
        """Append a block of rows (a sparse matrix with ``n_terms`` columns): counts if the
        writer was given an idf, else weights."""
        if self.idf is not None:
            counts = _whole_counts(rows)  # checks they are counts; drops zeros
            if counts.shape[1] != self.n_terms:
                raise ValueError(f"rows have {counts.shape[1]} columns, expected {self.n_terms}")
            if counts.nnz and counts.data.max() >= 2**32:
                raise ValueError("a count over 2**32 - 1")
            rows, norms = _weighed(counts, self.idf)  # the same entries, in the same order
            self._counts.write(counts.data.astype(np.uint32).tobytes())
            self._largest = max(self._largest, int(counts.data.max(initial=0)))
            self._norms.append(norms)
        rows = sp.csr_matrix(rows, dtype=np.float32)
        if rows.shape[1] != self.n_terms:
            raise ValueError(f"rows have {rows.shape[1]} columns, expected {self.n_terms}")
        if not rows.has_canonical_format:
            rows = rows.copy()
            rows.sum_duplicates()
        if rows.nnz and rows.data.min() < 0:
            raise ValueError("the index needs non-negative weights (TF-IDF rows)")
        self._data.write(rows.data.tobytes())
        self._indices.write(rows.indices.astype(self._cols).tobytes())
        self._row_lengths.append(np.diff(rows.indptr).astype(np.int64))

    def _read(self, fh, dtype, start, stop):
        """Stored entries ``start:stop`` of one scratch file, a block at a time."""
        size = np.dtype(dtype).itemsize
        for first in range(start, stop, self.block_entries):
            fh.seek(first * size)
            yield np.fromfile(fh, dtype=dtype, count=min(self.block_entries, stop - first))

    def _shard(self, indptr, a, b, idx):
        """Term-major postings (codes), bounds and scales of rows a:b, from the scratch files."""
        e0, e1 = int(indptr[a]), int(indptr[b])
        df = np.zeros(self.n_terms, dtype=np.int64)
        for cols in self._read(self._indices, self._cols, e0, e1):
            df += np.bincount(cols, minlength=self.n_terms)
        post_indptr = np.zeros(self.n_terms + 1, dtype=idx)
        np.cumsum(df, out=post_indptr[1:])
        post_rows = np.empty(e1 - e0, dtype=idx)
        post_data = np.empty(e1 - e0, dtype=np.float32)
        fill = post_indptr[:-1].astype(np.int64)
        local = indptr[a:b + 1] - e0  # entry offsets of the shard's rows
        start = 0
        blocks = zip(self._read(self._data, np.float32, e0, e1),
                     self._read(self._indices, self._cols, e0, e1), strict=True)
        for data, cols in blocks:
            # the rows this block covers (a row may straddle two blocks)
            r0 = int(np.searchsorted(local, start, side="right")) - 1
            r1 = int(np.searchsorted(local, start + len(data), side="left"))
            counts = np.diff(np.clip(local[r0:r1 + 1], start, start + len(data)))
            by_term = sp.csc_matrix((data, (np.repeat(np.arange(r1 - r0), counts), cols)),
                                    shape=(r1 - r0, self.n_terms))
            by_term.sort_indices()
            per_term = np.diff(by_term.indptr)
            where = np.arange(len(data), dtype=np.int64) + np.repeat(
                fill - by_term.indptr[:-1], per_term)
            post_rows[where] = by_term.indices + r0
            post_data[where] = by_term.data
            fill += per_term
            start += len(data)
        return _Shard.of(a, b - a, *quantized(_csr_from(post_data, post_rows, post_indptr,
                                                         (self.n_terms, b - a))))

    def close(self, ids):
        """Write the index folder for rows named *ids*; remove the scratch files."""
        try:
            self._data.flush()
            self._indices.flush()
            lengths = np.concatenate(self._row_lengths) if self._row_lengths \
                else np.zeros(0, dtype=np.int64)
            if len(lengths) != len(ids):
                raise ValueError(f"{len(lengths)} rows but {len(ids)} ids")
            n_docs, nnz = len(lengths), int(lengths.sum())
            idx = np.int32 if nnz < 2**31 and max(n_docs, self.n_terms) < 2**31 else np.int64
            indptr = np.zeros(n_docs + 1, dtype=idx)
            np.cumsum(lengths, out=indptr[1:])
            starts = shard_starts(n_docs, self.shards)
            folder = self.path
            folder.mkdir()
            np.save(folder / "shape.npy", np.asarray([n_docs, self.n_terms], dtype=np.int64))
            if self.idf is None:
                _save_chunks(folder / "data.npy", self._read(self._data, np.float32, 0, nnz),
                             np.float32, nnz)
                _save_chunks(folder / "indices.npy",
                             self._read(self._indices, self._cols, 0, nnz), idx, nnz)
            else:  # what the weights are computed from (see `model.similarity._Counts`)
                self._counts.flush()
                self._save_terms(folder, indptr, nnz)
                _save_chunks(folder / "counts.npy", self._read(self._counts, np.uint32, 0, nnz),
                             count_type(self._largest), nnz)
                norms = np.concatenate(self._norms) if self._norms else np.zeros(0, np.float32)
                np.save(folder / "norms.npy", norms.astype(np.float32))
                np.save(folder / "idf.npy", self.idf)
                np.save(folder / "tf.npy", tf_table(self._largest))
            np.save(folder / "indptr.npy", indptr)
            (ids if isinstance(ids, Ids) else Ids.of(ids)).save(folder)
            np.save(folder / "shard_starts.npy", starts)
            for i, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
                _save_shard(folder, i, self._shard(indptr, a, b, idx))
        finally:
            self.discard()

    def _save_terms(self, folder, indptr, nnz):
        """The rows' terms, gap-coded while the vocabulary allows it (`model.similarity.
        document_terms`), a block at a time: ``terms``, ``terms_wide``, ``terms_wide_indptr``."""
        blocks = self._read(self._indices, self._cols, 0, nnz)
        if not gap_coded(self.n_terms):
            _save_chunks(folder / "terms.npy", blocks, np.int32, nnz)
            return
        row_starts = np.asarray(indptr, dtype=np.int64)
        escapes_before = np.zeros(len(row_starts), dtype=np.int64)  # at each row's start
        gaps = np.lib.format.open_memmap(folder / "terms.npy", mode="w+", dtype=np.uint8,
                                         shape=(nnz,))
        scratch = self.path.with_name(self.path.name + ".wide.tmp")
        first, last, escaped = 0, 0, 0
        try:
            with open(scratch, "wb+") as wide:
                for block in blocks:
                    lo, hi = np.searchsorted(row_starts, [first, first + len(block)])
                    starts = np.zeros(len(block), dtype=bool)
                    starts[row_starts[lo:hi] - first] = True
                    block_gaps, block_wide, escapes = encode(block, starts, before=last)
                    gaps[first:first + len(block)] = block_gaps
                    wide.write(block_wide.tobytes())
                    escapes_before[lo:hi] = escaped + escapes[row_starts[lo:hi] - first]
                    escaped += int(escapes[-1])
                    first, last = first + len(block), int(block[-1]) if len(block) else last
                escapes_before[np.searchsorted(row_starts, nnz):] = escaped  # rows past the end
                gaps.flush()
                del gaps  # unmaps the file
                wide.flush()
                _save_chunks(folder / "terms_wide.npy", self._read(wide, np.uint16, 0, escaped),
                             np.uint16, escaped)
        finally:
            scratch.unlink(missing_ok=True)
        np.save(folder / "terms_wide_indptr.npy", escapes_before.astype(indptr.dtype))

    def discard(self):
        """Close and remove the scratch files (again after `close`: nothing happens)."""
        for fh in (self._data, self._indices, self._counts):
            if fh is None:
                continue
            fh.close()
            Path(fh.name).unlink(missing_ok=True)
