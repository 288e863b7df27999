"""Exact cosine top-k search over L2-normalised TF-IDF rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp


class SimilarityIndex:
    """A corpus matrix kept term-major, so a query reads only its own terms' postings.

    Parameters
    ----------
    matrix : sparse matrix of shape (n_docs, n_terms)
        L2-normalised TF-IDF rows (cosine = dot product).
    ids : sequence of str
        Document id of each row.
    """

    def __init__(self, matrix, ids):
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if matrix.shape[0] != len(ids):
            raise ValueError(f"{matrix.shape[0]} rows but {len(ids)} ids")
        self.matrix = matrix
        self.ids = np.asarray(ids, dtype=str)
        self.postings = matrix.T.tocsr()
        self.row_of = {doc_id: i for i, doc_id in enumerate(self.ids)}

    def __len__(self):
        return self.matrix.shape[0]

    def scores(self, query):
        """Cosine of *query* (a 1-row sparse matrix) with every document, as a dense vector."""
        q = sp.csr_matrix(query)
        if q.nnz == 0:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self.postings[q.indices].T @ q.data, dtype=np.float32).ravel()

    def top_k(self, query, k, allowed=None):
        """Rows and scores of the *k* best matches, best first; ties go to the lower row.

        *allowed* is an optional boolean mask over rows; rows outside it never appear,
        nor do rows scoring zero.
        """
        s = self.scores(query)
        if allowed is not None:
            s = np.where(allowed, s, 0.0)
        candidates = np.flatnonzero(s > 0)
        if len(candidates) > k:
            kth = -np.partition(-s[candidates], k - 1)[k - 1]
            better = candidates[s[candidates] > kth]
            tied = candidates[s[candidates] == kth]  # ascending rows: the lowest win
            candidates = np.concatenate([better, tied[: k - len(better)]])
        order = np.lexsort((candidates, -s[candidates]))
        rows = candidates[order]
        return rows, s[rows]

    def save(self, path):
        """Write the index as an uncompressed .npz (no pickle)."""
        m = self.matrix
        np.savez(path, data=m.data, indices=m.indices, indptr=m.indptr,
                 shape=np.asarray(m.shape), ids=self.ids)

    @classmethod
    def load(cls, path):
        """Read an index written by `save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(matrix, list(z["ids"]))
