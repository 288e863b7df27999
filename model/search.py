"""Cosine search over a version's corpus plus the documents added through the API."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from model.documents import DocumentStore
from model.errors import InvalidInput, NotFound
from model.features import document_text, require_words
from model.loaded import LoadedModel
from model.mapped import changed
from model.review import review_queue
from model.visible import Visible


class Searcher:
    """Cosine search over a version's corpus plus the documents in a `DocumentStore`.

    Documents added through the store shadow corpus documents with the same id, and a
    deleted corpus document stays hidden until the next index build. A reviewed corpus
    document moves to the live documents with its reviewed labels, so the search
    filters honour a correction at once. What a search sees is one immutable `Visible`
    snapshot, read once per call: searches take no lock and do no database I/O.
    `sync` reads the store's changes and corrections since the snapshot (the first
    reads the whole store), builds the next snapshot beside it and swaps it in; call
    it before answering.
    """

    def __init__(self, model: LoadedModel, store: DocumentStore | None = None):
        self.model = model
        self.store = store
        self.heads = [head.name for head in model.heads]
        self.terms = model.tagger.features.index_names_
        self.corpus_ids = model.index.ids  # `model.ids.Ids`: mapped, no object an id
        self.masks = model.masks
        self.corpus_uncertainty: dict[str, np.ndarray] = {}  # head -> per corpus row (review)
        self.visible = Visible.of_corpus(self.heads, len(self.corpus_ids),
                                         model.tagger.features.n_index_terms)
        self._sync_lock = threading.Lock()  # one sync at a time; searches never take it
        # One search computes at a time in a process. It holds no I/O, only the index
        # arithmetic (about 1 ms), so nothing waits on a database or a slow client behind
        # it: scipy's sparse kernels hand the GIL back and forth, and 8 threads computing
        # at once managed 355 searches/s in process against 769 taking turns (2 cores,
        # bench/README.md). Processes (`--workers`) are what run searches in parallel.
        self._compute = threading.Lock()
        self._started = 0    # syncs begun
        self._completed = 0  # the number (in order begun) of the last sync done

    def vectorize(self, title, text):
        """The similarity index's row of an article (`EmptyText` when title and text have no words)."""
        article = document_text(title, text)
        require_words(article, "text (with the title)")
        return self.model.tagger.features.transform_index([article])

    def sync(self):
        """Apply every change and correction written to the store before this call.

        Callers that arrive while another sync runs wait for it, and then return at once
        if a sync that began after they arrived has finished: a burst of requests costs
        two rounds of queries, not one per request.
        """
        if self.store is None:
            return
        arrived = self._started
        with self._sync_lock:
            if self._completed > arrived:
                return
            self._started += 1
            number = self._started
            self.visible = self._next(self.visible)
            self._completed = number

    def _next(self, view):
        store = self.store
        if view.seq is None:
            seq, docs, deleted = store.state()
            corrections = store.corrections_since(0)
            return view.apply(self, docs, deleted, corrections, store.scores_of_many(), seq=seq,
                              review_seq=corrections[-1]["seq"] if corrections else 0)
        # One query while nothing changed; every sequence number up to these has committed
        # (writers commit in order), so a retired correction is not asked for again.
        last_change, last_correction = store.latest()
        if last_change <= view.seq and last_correction <= view.review_seq:
            return view
        changes = store.changes_since(view.seq) if last_change > view.seq else []
        corrections = store.corrections_since(view.review_seq) \
            if last_correction > view.review_seq else []
        if not changes and not corrections:
            return replace(view, seq=max(view.seq, last_change),
                           review_seq=max(view.review_seq, last_correction))
        last = {doc_id: op for _, doc_id, op in changes}  # in order: the last op wins
        deleted = {doc_id for _, doc_id, op in changes if op == "delete"}
        puts = [doc_id for doc_id, op in last.items() if op == "put"]
        docs = store.get_many(puts) if puts else {}
        deleted |= set(puts) - docs.keys()  # put, then deleted before we read it
        return view.apply(self, [docs[i] for i in sorted(docs)], sorted(deleted), corrections,
                          store.scores_of_many(sorted(docs)) if docs else {},
                          seq=max(changes[-1][0] if changes else view.seq, last_change),
                          review_seq=max(corrections[-1]["seq"] if corrections else 0,
                                         view.review_seq, last_correction))

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
                       corpus=doc_id in self.corpus_ids, predicted=predicted,
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
        view = self.visible
        doc = self._document(view, doc_id)
        reviews = view.reviews.get(doc_id, {})
        live = view.live.get(doc_id, {})
        predicted = live.get("predicted")
        if predicted is None:  # stored before each head's origin was kept
            predicted = () if live.get("labelled", False) else self.heads
        out = {}
        for head in self.heads:
            if head in reviews:
                r = reviews[head]
                out[head] = {"status": "reviewed", "reviewer": r["reviewer"], "at": r["at"],
                             "model_version": r["model_version"]}
            elif doc["source"] == "corpus":
                out[head] = {"status": "corpus"}
            else:
                out[head] = {"status": "predicted" if head in predicted else "given"}
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

    def document(self, doc_id):
        """Metadata of a document (corpus or live); `NotFound` if there is none."""
        return self._document(self.visible, doc_id)

    def _document(self, view, doc_id):
        doc = view.live.get(doc_id)
        if doc is not None:
            return {"id": doc_id, "title": doc["title"], "source": doc["source"],
                    **{h: doc.get(h) for h in self.heads}}
        row = self.corpus_ids.row(doc_id)
        if row is None or view.hidden[row]:
            raise NotFound(f"no document with id {doc_id!r}")
        meta = self.model.corpus[row]
        return {"id": doc_id, "title": meta.get("title", ""), "source": "corpus",
                **{h: meta.get(h) for h in self.heads}}

    def text_of(self, doc_id):
        """The text of a visible document: an added one's, or the corpus' where the index kept it.

        A corpus document's text is kept joined with its title (`document_text`); the
        title is left out here, as an added document's text leaves it out.
        """
        return self.texts_of([doc_id])[doc_id]

    def texts_of(self, ids):
        """id -> text of each visible document of *ids* (`text_of`); the added ones in one query."""
        view = self.visible
        for doc_id in ids:
            self._document(view, doc_id)  # NotFound when one is not there
        added = [i for i in ids if view.live.get(i, {}).get("source") == "api"]
        stored = self.store.get_many(added) if added else {}
        out = {}
        for doc_id in ids:
            entry = view.live.get(doc_id)
            if doc_id in added:
                out[doc_id] = stored[doc_id]["text"] if doc_id in stored else ""
            else:
                meta = entry if entry is not None else self.model.corpus[self.corpus_ids.row(doc_id)]
                out[doc_id] = _body(meta)
        return out

    def exists(self, doc_id):
        """Whether a document with this id is visible."""
        try:
            self.document(doc_id)
            return True
        except NotFound:
            return False

    def visible_count(self):
        """How many documents a search can return: the corpus' not hidden, plus the added."""
        return self.visible.count()

    def vector_of(self, doc_id):
        """The stored vector of a visible document."""
        view = self.visible
        if doc_id in view.live:
            return view.live[doc_id]["vector"]
        self._document(view, doc_id)
        return self.model.index.row(self.corpus_ids.row(doc_id))

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
        view = self.visible  # one snapshot for the whole search
        # No per-query pass over the corpus unless a filter asks for one: the mask of
        # visible rows is kept with the snapshot, and the excluded row is dropped from
        # k + 1 results.
        allowed = view.visible
        for name, label in filters.items():
            mask = self.masks.get((name, label), np.zeros(len(view.hidden), dtype=bool))
            allowed = mask if allowed is None else allowed & mask
        skip = self.corpus_ids.row(exclude) if exclude is not None else None
        with self._compute:
            rows, scores = self.model.index.top_k(query, k + (skip is not None), allowed)
            hits = [(float(s), "corpus", int(r)) for r, s in zip(rows, scores, strict=True)
                    if r != skip][:k]
            if view.live_ids:
                live_scores = np.asarray((view.live_matrix @ query.T).todense()).ravel()
                for j, s in enumerate(live_scores):
                    doc = view.live[view.live_ids[j]]
                    if s > 0 and view.live_ids[j] != exclude and all(
                            _has(doc.get(n), lab) for n, lab in filters.items()):
                        hits.append((float(s), "live", j))
            hits.sort(key=lambda h: (-h[0], h[1], h[2]))
            return [self._result(view, query, s, where, j, terms)
                    for s, where, j in hits[:k] if s >= min_score]

    def review_queue(self, head, limit=20):
        """Unreviewed visible documents, least certain first (see `model.review.review_queue`).

        Reads one snapshot and the scores kept with it: no lock, no database I/O.
        Returns ``(entries, unreviewed, reviewed)``.
        """
        return review_queue(self, self.visible, self._head(head), limit)

    def _head(self, name):
        try:
            return self.model.head(name)
        except KeyError:
            raise InvalidInput(f"this model has no head {name!r}") from None

    def _result(self, view, query, score, where, j, terms):
        if where == "corpus":
            meta, vector = self.model.corpus[j], self.model.index.rows.span(j)
        else:
            meta = view.live[view.live_ids[j]]
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
        if not np.isfinite(products).all():
            raise changed("a weight is not a number")
        order = np.argsort(-products, kind="stable")[:limit]
        return [{"term": str(self.terms[common[i]]), "weight": round(float(products[i]), 6)}
                for i in order]


def _row_arrays(row):
    return row if isinstance(row, tuple) else (row.indices, row.data)


def _has(value, label):
    return label in value if isinstance(value, list) else value == label


def _body(meta):
    """A corpus document's kept text without the title `document_text` put at its start."""
    text, title = meta.get("text", ""), meta.get("title", "")
    if title and (text == title or text.startswith(title + "\n")):
        return text[len(title) + 1:]
    return text
