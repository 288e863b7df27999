"""Cosine search over a version's corpus plus the documents added through the API."""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from model.documents import DocumentStore
from model.errors import InvalidInput, NotFound
from model.features import require_words
from model.review import least_certain, reviewed_labels, uncertainty
from model.store import LoadedModel


class Searcher:
    """Cosine search over a version's corpus plus the documents in a `DocumentStore`.

    Documents added through the store shadow corpus documents with the same id, and a
    deleted corpus document stays hidden until the next index build. A reviewed corpus
    document moves to the live documents with its reviewed labels, so the search
    filters honour a correction at once. `sync` applies the store's changes and
    corrections since the last call (the first reads the whole store); call it before
    answering.
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
        self.reviews: dict[str, dict[str, dict]] = {}  # id -> head -> latest review
        self.review_seq = 0
        self._uncertainty: dict[str, np.ndarray] = {}
        self._lock = threading.RLock()

    def vectorize(self, title, text):
        """The word TF-IDF row of a text (raises `EmptyText` when it has no words)."""
        require_words(text)
        tagger = self.model.tagger
        return sp.csr_matrix(tagger.features.word_block(tagger.vectorize([(title, text)])))

    def sync(self):
        """Apply every change and correction written to the store since the last sync."""
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
            for seq, doc_id, op in self.store.changes_since(self.seq):
                if op == "put":
                    doc = self.store.get(doc_id)
                    if doc is not None:
                        self._put(doc)
                else:  # the delete retired the document's corrections in the store
                    self.reviews.pop(doc_id, None)
                    self._drop(doc_id)
                    self._hide(doc_id)
                self.seq = seq
            corrections = self.store.corrections_since(self.review_seq)
            for doc_id, heads in reviewed_labels(corrections).items():
                self.reviews.setdefault(doc_id, {}).update(heads)
                self._apply_review(doc_id)
            if corrections:
                self.review_seq = corrections[-1]["seq"]

    def add(self, doc_id, title, text, given):
        """Store a document and make it searchable at once; return its labels and the predicted heads.

        Its labels are those *given* (head name -> labels) where valid, the predicted
        ones elsewhere (`Tagger.given_or_predicted`); it is training material
        (``labelled``) only when none had to be predicted. `AlreadyExists` when the id is
        taken (by a stored document, or a corpus one not deleted), even by a writer that
        won a race: the store checks and writes in one transaction, with the scores.
        """
        tagger = self.model.tagger
        X = tagger.vectorize([(title, text)])
        [(labels, predicted)] = tagger.given_or_predicted(X, [given])
        self.store.put(doc_id, title, text, labels, labelled=not predicted, create=True,
                       corpus=doc_id in self.corpus_row,
                       scores=(self.model.version, self._scores(X)))
        self.sync()
        return labels, predicted

    def correct(self, doc_id, labels, reviewer=None, note=None):
        """Record a correction of a visible document (head name -> labels, already valid).

        Appended to the document's history; the labels win over the predicted or corpus
        ones in search at once and in the next training run.
        """
        self.document(doc_id)  # NotFound when it is not there
        self.store.correct([{"id": doc_id, "labels": labels, "reviewer": reviewer,
                             "note": note, "model_version": self.model.version}])
        self.sync()

    def review_state(self, doc_id):
        """Per head: whether its label was predicted, given or reviewed (by whom, when, which model)."""
        doc = self.document(doc_id)
        reviews = self.reviews.get(doc_id, {})
        stored = self.store.get(doc_id) if doc["source"] == "api" and self.store else None
        out = {}
        for head in self.heads:
            if head in reviews:
                r = reviews[head]
                out[head] = {"status": "reviewed", "reviewer": r["reviewer"], "at": r["at"],
                             "model_version": r["model_version"]}
            elif doc["source"] == "corpus":
                out[head] = {"status": "corpus"}
            else:
                out[head] = {"status": "given" if stored and stored["labelled"] else "predicted"}
        return out

    def _scores(self, X):
        """Head name -> {label: probability} for one feature row (JSON-ready)."""
        tagger = self.model.tagger
        return {spec.name: {label: round(float(p), 6) for label, p in zip(
                    tagger.labels_of(spec), tagger.heads[spec.name].predict_proba(X)[0],
                    strict=True)}
                for spec in tagger.specs}

    def delete(self, doc_id):
        """Delete an added document, or hide a corpus one until the next index build."""
        source = self.document(doc_id)["source"]  # NotFound when it is not there
        self.store.delete(doc_id, must_exist=source == "api")
        self.sync()

    def _put(self, doc):
        vector = self.vectorize(doc["title"], doc["text"])
        self.live[doc["id"]] = {"id": doc["id"], "title": doc["title"], "vector": vector,
                                "source": "api", **doc["labels"]}
        self._hide(doc["id"])
        self._apply_review(doc["id"])
        self._live_matrix = None

    def _apply_review(self, doc_id):
        """Give a visible document its reviewed labels; a corpus one becomes live to carry them."""
        reviews = self.reviews.get(doc_id)
        if not reviews:
            return
        if doc_id not in self.live:
            row = self.corpus_row.get(doc_id)
            if row is None or self.hidden[row]:
                return  # not visible (deleted, or never here): the review waits in the store
            meta = self.model.corpus[row]
            self.live[doc_id] = {**meta, "id": doc_id, "title": meta.get("title", ""),
                                 "vector": self.model.index.matrix[row], "source": "corpus",
                                 "row": row}
            self._hide(doc_id)
        entry = self.live[doc_id]
        for head, review in reviews.items():
            if head in self.heads:
                entry[head] = review["labels"]
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
                return {"id": doc_id, "title": doc["title"], "source": doc["source"],
                        **{h: doc.get(h) for h in self.heads}}
            row = self.corpus_row.get(doc_id)
            if row is None or self.hidden[row]:
                raise NotFound(f"no document with id {doc_id!r}")
            meta = self.model.corpus[row]
            return {"id": doc_id, "title": meta.get("title", ""), "source": "corpus",
                    **{h: meta.get(h) for h in self.heads}}

    def text_of(self, doc_id):
        """The text of a visible document: an added one's, or the corpus' where the index kept it."""
        with self._lock:
            doc = self.live.get(doc_id)
            if doc is not None and doc["source"] == "api":
                stored = self.store.get(doc_id)
                return stored["text"] if stored else ""
            if doc is not None:
                return doc.get("text", "")
            self.document(doc_id)
            return self.model.corpus[self.corpus_row[doc_id]].get("text", "")

    def exists(self, doc_id):
        """Whether a document with this id is visible."""
        try:
            self.document(doc_id)
            return True
        except NotFound:
            return False

    def visible_count(self):
        """How many documents a search can return: the corpus' not hidden, plus the added."""
        with self._lock:
            return int(len(self.hidden) - self.hidden.sum()) + len(self.live)

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

    def review_queue(self, head, limit=20):
        """Unreviewed visible documents, least certain first (see `model.review`).

        Corpus rows use the scores stored with the version, in one vectorised pass;
        added documents the scores stored when they were added, and ``scored_by`` says
        which model version computed each entry's scores. Returns ``(entries, unreviewed,
        reviewed)`` counts included.
        """
        spec = self._head(head)
        tagger = self.model.tagger
        labels = tagger.labels_of(spec)
        thresholds = tagger.heads[head].thresholds_ if spec.multilabel else None
        with self._lock:
            candidates = []  # (uncertainty, where, row or id, probabilities, scored_by)
            corpus_scores = self.model.scores.get(head)
            n_unreviewed = 0
            if corpus_scores is not None:
                u = self._uncertainty.get(head)
                if u is None:
                    u = self._uncertainty[head] = uncertainty(corpus_scores, thresholds)
                visible = self._visible if self._visible is not None else \
                    np.ones(len(self.hidden), dtype=bool)
                n_unreviewed += int(visible.sum())
                for row in least_certain(u, visible, limit):
                    candidates.append((float(u[row]), "corpus", int(row), corpus_scores[row],
                                       self.model.version))
            for doc_id, doc in self.live.items():
                if head in self.reviews.get(doc_id, {}):
                    continue
                n_unreviewed += 1
                if doc["source"] == "corpus":  # reviewed for another head only
                    if corpus_scores is None:
                        continue
                    version, P = self.model.version, corpus_scores[doc["row"]][None, :]
                else:
                    stored = self.store.scores_of(doc_id)
                    if stored is None or head not in stored[1]:
                        continue
                    version, scores = stored
                    P = np.array([[scores[head].get(label, 0.0) for label in labels]])
                candidates.append((float(uncertainty(P, thresholds)[0]), "live", doc_id, P[0],
                                   version))
            candidates.sort(key=lambda c: (c[0], str(c[2])))
            n_reviewed = sum(head in r for r in self.reviews.values())
            entries = []
            for u, where, key, P, version in candidates[:limit]:
                meta = self.model.corpus[key] if where == "corpus" else self.live[key]
                scores = {label: round(float(p), 6) for label, p in zip(labels, P, strict=True)}
                if spec.multilabel:
                    chosen = np.flatnonzero(tagger.heads[head].decide(np.asarray(P)[None, :])[0])
                    answer = [labels[j] for j in sorted(chosen, key=lambda j: -P[j])]
                else:
                    answer = labels[int(np.argmax(P))]
                entries.append({"id": meta["id"], "title": meta.get("title", ""),
                                "source": meta.get("source", "corpus"),
                                "labels": {h: meta.get(h) for h in self.heads},
                                "answer": answer, "scores": scores,
                                "uncertainty": round(u, 6), "scored_by": version})
        return entries, n_unreviewed, n_reviewed

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
