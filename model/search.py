"""Cosine search over a version's corpus plus the documents added through the API."""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from model.documents import DocumentStore
from model.errors import InvalidInput, NotFound
from model.features import require_words
from model.store import LoadedModel


class Searcher:
    """Cosine search over a version's corpus plus the documents in a `DocumentStore`.

    Documents added through the store shadow corpus documents with the same id, and a
    deleted corpus document stays hidden until the next index build. `sync` applies
    the store's changes since the last call (the first reads the whole store); call it
    before answering.
    """

    def __init__(self, model: LoadedModel, store: DocumentStore | None = None):
        self.model = model
        self.store = store
        self.heads = [head.name for head in model.heads]
        self.terms = model.tagger.features.feature_names_
        corpus_ids = model.index.ids
        self.corpus_row = {doc_id: i for i, doc_id in enumerate(corpus_ids)}
        self.hidden = np.zeros(len(corpus_ids), dtype=bool)
        self._visible = None  # ~hidden, or None while nothing is hidden
        self.masks = model.masks
        self.live: dict[str, dict] = {}
        self._live_ids: list[str] = []
        self._live_matrix = None
        self.seq = None  # nothing read from the store yet: the first sync reads all of it
        self._lock = threading.RLock()

    def vectorize(self, title, text):
        """The word TF-IDF row of a text (raises `EmptyText` when it has no words)."""
        require_words(text)
        tagger = self.model.tagger
        return sp.csr_matrix(tagger.features.word_block(tagger.vectorize([(title, text)])))

    def sync(self):
        """Apply every change written to the store since the last sync."""
        if self.store is None:
            return
        with self._lock:
            if self.seq is None:
                seq, docs, deleted = self.store.state()
                for doc in docs:
                    self._put(doc)
                for doc_id in deleted:
                    self._hide(doc_id)
                self.seq = seq
                return
            for seq, doc_id, op in self.store.changes_since(self.seq):
                if op == "put":
                    doc = self.store.get(doc_id)
                    if doc is not None:
                        self._put(doc)
                else:
                    self._drop(doc_id)
                    self._hide(doc_id)
                self.seq = seq

    def add(self, doc_id, title, text, given):
        """Store a document and make it searchable at once; return its labels and the predicted heads.

        Its labels are those *given* (head name -> labels) where valid, the predicted
        ones elsewhere (`Tagger.given_or_predicted`); it is training material
        (``labelled``) only when none had to be predicted.
        """
        tagger = self.model.tagger
        [(labels, predicted)] = tagger.given_or_predicted(tagger.vectorize([(title, text)]), [given])
        self.store.put(doc_id, title, text, labels, labelled=not predicted)
        self.sync()
        return labels, predicted

    def delete(self, doc_id):
        """Delete an added document, or hide a corpus one until the next index build."""
        source = self.document(doc_id)["source"]  # NotFound when it is not there
        self.store.delete(doc_id, must_exist=source == "api")
        self.sync()

    def _put(self, doc):
        vector = self.vectorize(doc["title"], doc["text"])
        self.live[doc["id"]] = {"id": doc["id"], "title": doc["title"], "vector": vector,
                                **doc["labels"]}
        self._hide(doc["id"])
        self._live_matrix = None

    def _drop(self, doc_id):
        if self.live.pop(doc_id, None) is not None:
            self._live_matrix = None

    def _hide(self, doc_id):
        row = self.corpus_row.get(doc_id)
        if row is not None:
            self.hidden[row] = True
            self._visible = ~self.hidden

    def _live(self):
        if self._live_matrix is None:
            self._live_ids = sorted(self.live)
            rows = [self.live[i]["vector"] for i in self._live_ids]
            n_terms = self.model.tagger.features.n_word_features_
            self._live_matrix = sp.vstack(rows, format="csr") if rows else \
                sp.csr_matrix((0, n_terms), dtype=np.float32)
        return self._live_ids, self._live_matrix

    def document(self, doc_id):
        """Metadata of a document (corpus or live); `NotFound` if there is none."""
        with self._lock:
            if doc_id in self.live:
                doc = self.live[doc_id]
                return {"id": doc_id, "title": doc["title"], "source": "api",
                        **{h: doc.get(h) for h in self.heads}}
            row = self.corpus_row.get(doc_id)
            if row is None or self.hidden[row]:
                raise NotFound(f"no document with id {doc_id!r}")
            meta = self.model.corpus[row]
            return {"id": doc_id, "title": meta.get("title", ""), "source": "corpus",
                    **{h: meta.get(h) for h in self.heads}}

    def exists(self, doc_id):
        """Whether a document with this id is visible."""
        try:
            self.document(doc_id)
            return True
        except NotFound:
            return False

    def vector_of(self, doc_id):
        """The stored vector of a visible document."""
        with self._lock:
            if doc_id in self.live:
                return self.live[doc_id]["vector"]
            self.document(doc_id)
            return self.model.index.matrix[self.corpus_row[doc_id]]

    def search(self, query, k=10, filters=None, min_score=0.0, exclude=None, terms=10):
        """The *k* most similar visible documents, best first, with their shared terms.

        *filters* maps a head name to a label the document must carry; *terms* caps the
        shared terms listed per result (their weights sum to the score when none is cut).
        """
        filters = filters or {}
        for name, label in filters.items():
            labels = self._head(name).labels
            if label not in labels:
                raise InvalidInput(f"unknown {name} {label!r}; expected one of "
                                   + ", ".join(labels))
        with self._lock:
            # No per-query pass over the corpus unless a filter asks for one: the mask of
            # visible rows is kept up to date on deletes, and the excluded row is dropped
            # from k + 1 results.
            allowed = self._visible
            for name, label in filters.items():
                mask = self.masks.get((name, label), np.zeros(len(self.hidden), dtype=bool))
                allowed = mask if allowed is None else allowed & mask
            skip = self.corpus_row.get(exclude) if exclude is not None else None
            rows, scores = self.model.index.top_k(query, k + (skip is not None), allowed)
            hits = [(float(s), "corpus", int(r)) for r, s in zip(rows, scores, strict=True)
                    if r != skip][:k]
            live_ids, live_matrix = self._live()
            if live_ids:
                live_scores = np.asarray((live_matrix @ query.T).todense()).ravel()
                for j, s in enumerate(live_scores):
                    doc = self.live[live_ids[j]]
                    if s > 0 and live_ids[j] != exclude and all(
                            _has(doc.get(n), lab) for n, lab in filters.items()):
                        hits.append((float(s), "live", j))
            hits.sort(key=lambda h: (-h[0], h[1], h[2]))
            return [self._result(query, s, where, j, live_ids, terms)
                    for s, where, j in hits[:k] if s >= min_score]

    def _head(self, name):
        try:
            return self.model.head(name)
        except KeyError:
            raise InvalidInput(f"this model has no head {name!r}") from None

    def _result(self, query, score, where, j, live_ids, terms):
        if where == "corpus":
            matrix = self.model.index.matrix  # row j as views: scipy's row indexing costs more
            start, stop = matrix.indptr[j], matrix.indptr[j + 1]
            meta, vector = self.model.corpus[j], (matrix.indices[start:stop],
                                                  matrix.data[start:stop])
        else:
            meta = self.live[live_ids[j]]
            vector = meta["vector"]
        return {"id": meta["id"], "title": meta.get("title", ""),
                "score": round(min(score, 1.0), 6),
                **{h: meta.get(h) for h in self.heads},
                "shared_terms": self.shared_terms(query, vector, terms)}

    def shared_terms(self, query, vector, limit=None):
        """Terms in both vectors with their products, largest first (all of them sum to the cosine).

        *query* and *vector* are one-row sparse matrices with sorted, unique indices (as
        the vectoriser makes them), or ``(indices, data)`` pairs of such a row.
        """
        (q_terms, q_data), (v_terms, v_data) = _row_arrays(query), _row_arrays(vector)
        common, qi, vi = np.intersect1d(q_terms, v_terms, assume_unique=True,
                                        return_indices=True)
        products = q_data[qi] * v_data[vi]
        order = np.argsort(-products, kind="stable")[:limit]
        return [{"term": str(self.terms[common[i]]), "weight": round(float(products[i]), 6)}
                for i in order]


def _row_arrays(row):
    return row if isinstance(row, tuple) else (row.indices, row.data)


def _has(value, label):
    return label in value if isinstance(value, list) else value == label
