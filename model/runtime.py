"""A loaded, verified model version and the similarity search built on it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import scipy.sparse as sp

from model.corpus import DOCUMENTS_FILE, LABELS_FILE, CorpusDocuments, label_masks, label_masks_of
from model.documents import DocumentStore
from model.errors import ArtifactError, InvalidInput, NotFound
from model.features import document_text, require_words
from model.similarity import SimilarityIndex
from model.store import MODEL_FILE, ArtifactStore
from model.tagger import Tagger

INDEX_FILE = "index.npz"
STORE_FILE = "documents.sqlite"


@dataclass(frozen=True)
class LoadedModel:
    """Everything one model version answers with; immutable, swapped as a whole."""

    version: str
    manifest: dict
    tagger: Tagger
    folder: Path
    index: SimilarityIndex | None = None
    corpus: Sequence = ()  # each row's metadata (a `CorpusDocuments`)
    masks: dict = field(default_factory=dict)  # (head, label) -> bool array over rows

    @property
    def tagger_text_fields(self):
        """The text fields the model was trained on."""
        return tuple(self.manifest.get("text_fields", ("title", "text")))


def load_model(home, with_index=True) -> LoadedModel:
    """Verify the current version in *home*, then load its tagger (and index).

    Nothing is read from the version, let alone unpickled, before every file's hash
    checks out. The index and the documents' metadata are memory-mapped, not parsed.
    """
    store = ArtifactStore(home)
    folder = store.current_dir()
    manifest = store.verify(folder)
    tagger = joblib.load(folder / MODEL_FILE)
    if not isinstance(tagger, Tagger):
        raise ArtifactError(f"{folder / MODEL_FILE} does not hold a tagsim tagger; retrain")
    if not with_index:
        return LoadedModel(manifest["version"], manifest, tagger, folder)
    index = SimilarityIndex.load(folder / INDEX_FILE)
    try:
        corpus = CorpusDocuments(folder / DOCUMENTS_FILE)
        if len(corpus) != len(index):
            raise ValueError(f"{len(index)} index rows but {len(corpus)} documents")
        heads = [spec.name for spec in tagger.specs]
        masks = label_masks(folder / LABELS_FILE, heads, len(corpus)) \
            if LABELS_FILE in manifest["files"] else label_masks_of(corpus, heads)
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"cannot read the documents of {folder}: {exc}; retrain") from None
    return LoadedModel(manifest["version"], manifest, tagger, folder, index, corpus, masks)


def load_tagger(home) -> LoadedModel:
    """Verify and load only the tagger of the current version in *home*."""
    return load_model(home, with_index=False)


class Searcher:
    """Cosine search over a version's corpus plus the documents in a `DocumentStore`.

    Documents added through the store shadow corpus documents with the same id, and a
    deleted corpus document stays hidden until the next index build. `sync` applies
    the store's changes since the last call; call it before answering.
    """

    def __init__(self, model: LoadedModel, store: DocumentStore | None = None):
        self.model = model
        self.store = store
        self.heads = [s.name for s in model.tagger.specs]
        self.terms = model.tagger.features.feature_names_
        corpus_ids = model.index.ids
        self.corpus_row = {doc_id: i for i, doc_id in enumerate(corpus_ids)}
        self.hidden = np.zeros(len(corpus_ids), dtype=bool)
        self._visible = None  # ~hidden, or None while nothing is hidden
        self.masks = model.masks
        self.live: dict[str, dict] = {}
        self._live_ids: list[str] = []
        self._live_matrix = None
        self.seq = 0
        self._lock = threading.RLock()
        if store is not None:
            self.seq, docs, deleted = store.state()
            for doc in docs:
                self._put(doc)
            for doc_id in deleted:
                self._hide(doc_id)

    def vectorize(self, title, text):
        """The word TF-IDF row of a text (raises `EmptyText` when it has no words)."""
        require_words(text)
        features = self.model.tagger.features
        return sp.csr_matrix(features.word_block(features.transform([document_text(title, text)])))

    def sync(self):
        """Apply every change written to the store since the last sync."""
        if self.store is None:
            return
        with self._lock:
            for seq, doc_id, op in self.store.changes_since(self.seq):
                if op == "put":
                    doc = self.store.get(doc_id)
                    if doc is not None:
                        self._put(doc)
                else:
                    self._drop(doc_id)
                    self._hide(doc_id)
                self.seq = seq

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
            n_terms = len(self.model.tagger.features.word_.vocabulary_)
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
            if label not in self.model.tagger.labels_of(self._spec(name)):
                raise InvalidInput(f"unknown {name} {label!r}; expected one of "
                                   + ", ".join(self.model.tagger.labels_of(self._spec(name))))
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

    def _spec(self, name):
        for spec in self.model.tagger.specs:
            if spec.name == name:
                return spec
        raise InvalidInput(f"this model has no head {name!r}")

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


def open_store(home) -> DocumentStore:
    """The document store of a home folder."""
    return DocumentStore(Path(home) / STORE_FILE)
