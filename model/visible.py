"""What a search can see: an immutable snapshot of a version's corpus plus the store's changes.

A `Visible` is never changed once built. `Visible.apply` returns a new one with a batch of
the store's changes and corrections applied, so a searcher can build the next snapshot
beside the current one and swap it in with one assignment; searches read whichever
snapshot was current when they started, whole, and take no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from model.review import reviewed_labels

_EMPTY = MappingProxyType({})


@dataclass(frozen=True)
class Visible:
    """One consistent state of the searchable documents.

    ``live`` maps the id of every document that is not a plain corpus row — one added
    through the store, or a corpus row a reviewer corrected — to its entry: ``title``,
    ``vector`` (its word TF-IDF row), ``source`` (``api`` or ``corpus``), its labels per
    head, ``labelled`` (the client gave every label), ``predicted`` (the heads the model
    labelled when it was added; None if not kept) and, for a corpus row, ``row``.
    ``hidden`` marks the corpus rows a search must skip (deleted, or shadowed by a live
    entry); ``visible`` is its complement, or None while nothing is hidden. ``reviews``
    maps an id to head -> its latest review; ``scores`` an added document's id to the
    (model version, head -> {label: probability}) stored when it was added. ``seq`` and
    ``review_seq`` are the last change and correction applied (``seq`` None: the store
    has not been read yet).
    """

    heads: tuple
    n_terms: int
    hidden: np.ndarray
    visible: np.ndarray | None = None
    live: MappingProxyType = field(default_factory=lambda: _EMPTY)
    reviews: MappingProxyType = field(default_factory=lambda: _EMPTY)
    scores: MappingProxyType = field(default_factory=lambda: _EMPTY)
    seq: int | None = None
    review_seq: int = 0
    cache: dict = field(default_factory=dict, compare=False)  # derived per snapshot, e.g. queues

    @classmethod
    def of_corpus(cls, heads, n_rows, n_terms):
        """The snapshot of a version's corpus alone, before the store is read."""
        hidden = np.zeros(n_rows, dtype=bool)
        hidden.flags.writeable = False
        return cls(tuple(heads), int(n_terms), hidden)

    @property
    def live_ids(self):
        """The live documents' ids, sorted: the row order of `live_matrix`."""
        return self._stacked()[0]

    @property
    def live_matrix(self):
        """The live documents' word rows, one CSR matrix, built on first use per snapshot.

        Lazily, so a write (which builds a new snapshot) costs no pass over every live
        document; the first search after it pays once. Two threads building it at once
        build the same matrix.
        """
        return self._stacked()[1]

    def _stacked(self):
        stacked = self.cache.get("stacked")
        if stacked is None:
            ids = tuple(sorted(self.live))
            matrix = sp.vstack([self.live[i]["vector"] for i in ids], format="csr") if ids \
                else sp.csr_matrix((0, self.n_terms), dtype=np.float32)
            stacked = self.cache["stacked"] = (ids, matrix)
        return stacked

    def apply(self, searcher, documents=(), deleted=(), corrections=(), scores=None, seq=None,
              review_seq=None):
        """A new snapshot: this one with stored *documents* put, *deleted* ids gone, *corrections* applied.

        *documents* are the store's dicts (``id``, ``title``, ``text``, ``labels``,
        ``labelled``) of ids put since this snapshot, *deleted* the ids deleted since
        (a delete retires the id's corrections, so its reviews go too), *scores* the
        stored scores of the documents put. *searcher* (a `model.search.Searcher`) gives
        the corpus rows, their metadata and vectors, and vectorises the documents put.
        """
        live, reviews = dict(self.live), dict(self.reviews)
        stored = dict(self.scores)
        hidden = self.hidden
        model, corpus_ids = searcher.model, searcher.corpus_ids

        def hide(doc_id):
            nonlocal hidden
            row = corpus_ids.row(doc_id)
            if row is not None and not hidden[row]:
                if not hidden.flags.writeable:
                    hidden = hidden.copy()
                hidden[row] = True

        for doc_id in deleted:
            live.pop(doc_id, None)
            reviews.pop(doc_id, None)
            stored.pop(doc_id, None)
            hide(doc_id)
        for doc in documents:
            live[doc["id"]] = {"id": doc["id"], "title": doc["title"],
                               "vector": searcher.vectorize(doc["title"], doc["text"]),
                               "source": "api",
                               "labelled": doc["labelled"], "predicted": doc.get("predicted"),
                               **doc["labels"]}
            hide(doc["id"])
        stored.update(scores or {})
        for doc_id, heads in reviewed_labels(corrections).items():
            reviews[doc_id] = {**reviews.get(doc_id, {}), **heads}
        touched = {d["id"] for d in documents} | {c["id"] for c in corrections}
        for doc_id in touched & reviews.keys():
            if doc_id not in live:
                row = corpus_ids.row(doc_id)
                if row is None or hidden[row]:
                    continue  # not visible (deleted, or never here): the review waits in the store
                meta = model.corpus[row]
                live[doc_id] = {**meta, "id": doc_id, "title": meta.get("title", ""),
                                "vector": model.index.row(row), "source": "corpus", "row": row}
                hide(doc_id)
            entry = live[doc_id] = dict(live[doc_id])  # the old snapshot keeps its own
            for head, review in reviews[doc_id].items():
                if head in self.heads:
                    entry[head] = review["labels"]
        hidden.flags.writeable = False
        return replace(
            self, hidden=hidden, visible=~hidden if hidden.any() else None,
            live=MappingProxyType(live),
            reviews=MappingProxyType(reviews), scores=MappingProxyType(stored),
            seq=self.seq if seq is None else seq,
            review_seq=self.review_seq if review_seq is None else review_seq, cache={})

    def count(self):
        """How many documents a search can return: the corpus' not hidden, plus the live."""
        return int(len(self.hidden) - self.hidden.sum()) + len(self.live)
