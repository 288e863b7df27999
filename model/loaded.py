"""A version loaded for serving: verified first, then read into one immutable object (its
index and documents mapped, its stored scores read when first asked for)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import joblib
import numpy as np

from model.corpus import CorpusDocuments, label_masks
from model.errors import ArtifactError
from model.mapped import AST_LOCK
from model.similarity import SimilarityIndex
from model.store import (
    DOCUMENT_ENDS,
    DOCUMENTS_FILE,
    INDEX_FILE,
    LABELS_FILE,
    MANIFEST,
    MODEL_FILE,
    SCORES_FILE,
    ArtifactStore,
)
from model.tagger import HeadSpec, Tagger


@dataclass(frozen=True)
class LoadedModel:
    """Everything one model version answers with; immutable, swapped as a whole.

    ``heads`` are the manifest's: every field, filter and answer key that names a head
    is derived from them.
    """

    version: str
    manifest: dict
    tagger: Tagger
    folder: Path
    heads: tuple[HeadSpec, ...]
    index: SimilarityIndex | None = None
    corpus: Sequence = ()  # each row's metadata (a `CorpusDocuments`)
    masks: dict = field(default_factory=dict)  # (head, label) -> bool array over rows
    scores: Mapping = field(default_factory=dict)  # head -> (rows, labels) probabilities (`StoredScores`)

    @property
    def text_fields(self) -> tuple[str, ...]:
        """The text fields the model was trained on, body last."""
        return tuple(self.manifest.get("text_fields", ("title", "text")))

    def head(self, name: str) -> HeadSpec:
        """The head called *name*; `KeyError` if the model has none."""
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)


def load_verified(home, with_index=True, version=None, key=None, search_threads=1) -> LoadedModel:
    """Verify the current version in *home* (or *version*), then load its tagger (and its index and corpus).

    Nothing is read from the version, let alone unpickled, before the manifest's seal
    and every file's hash check out. The index and the documents' metadata are
    memory-mapped, not parsed. *key* is the HMAC key the version was sealed with, if
    any. *search_threads* > 1 searches the index's shards in that many threads (see
    `SimilarityIndex.load`). Raises `ArtifactError` with one line saying what to do.
    """
    with AST_LOCK:  # one version read at a time in a process (see `AST_LOCK`)
        return _load_verified(home, with_index, version, key, search_threads)


def _load_verified(home, with_index, version, key, search_threads) -> LoadedModel:
    store = ArtifactStore(home, key=key)
    folder = store.current_dir() if version is None else store.versions / version
    manifest = store.verify(folder)
    tagger = joblib.load(folder / MODEL_FILE)
    if not isinstance(tagger, Tagger):
        raise ArtifactError(f"{folder / MODEL_FILE} does not hold a tagsim tagger; retrain")
    heads = _manifest_heads(manifest, tagger, folder)
    if not with_index:
        return LoadedModel(manifest["version"], manifest, tagger, folder, heads)
    try:
        index = SimilarityIndex.load(folder / INDEX_FILE, threads=search_threads)
        corpus = CorpusDocuments(folder / DOCUMENTS_FILE, folder / DOCUMENT_ENDS)
        if len(corpus) != len(index):
            raise ValueError(f"{len(index)} index rows but {len(corpus)} documents")
        masks = label_masks(folder / LABELS_FILE, [h.name for h in heads], len(corpus))
        scores = StoredScores(folder / SCORES_FILE, [h.name for h in heads], len(corpus))
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"cannot read the index or documents of {folder}: {exc}; "
                            "retrain") from None
    return LoadedModel(manifest["version"], manifest, tagger, folder, heads, index, corpus, masks,
                       scores)


class StoredScores(Mapping):
    """Per head, the (rows, labels) probabilities of a version's corpus, read on first use.

    Only the review queue reads them: a process that never shows it never holds them
    (52 MB at a million documents, in each worker process). Empty for versions written
    before scores were stored. A file that cannot be read is an `ArtifactError` then.
    """

    def __init__(self, path: Path, names, n_rows: int):
        self._path, self._n_rows = path, n_rows
        self._names = tuple(names) if path.is_file() else ()
        self._arrays = None
        self._lock = threading.Lock()

    def _read(self):
        with self._lock:
            if self._arrays is None:
                try:
                    with AST_LOCK, np.load(self._path, allow_pickle=False) as z:
                        arrays = {name: z[name] for name in self._names}
                    for name, P in arrays.items():
                        if P.shape[0] != self._n_rows:
                            raise ValueError(f"{P.shape[0]} rows of {name}, not {self._n_rows}")
                except (OSError, ValueError, KeyError) as exc:
                    raise ArtifactError(f"cannot read the stored scores {self._path}: {exc}; "
                                        "retrain") from None
                self._arrays = arrays
        return self._arrays

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return self._read()[name]

    def __contains__(self, name):  # without reading the file
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)


def _manifest_heads(manifest, tagger, folder) -> tuple[HeadSpec, ...]:
    """The heads the manifest records, checked against the tagger's."""
    try:
        heads = tuple(HeadSpec.from_manifest(entry) for entry in manifest["heads"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{folder / MANIFEST} has no valid 'heads' ({exc!r}); retrain") \
            from None
    if heads != tuple(replace(s, labels=tagger.labels_of(s)) for s in tagger.specs):
        raise ArtifactError(f"the heads in {folder / MANIFEST} are not those of "
                            f"{folder / MODEL_FILE}; retrain")
    return heads
