"""Similarity corpora: write a version's index, or re-index the current model on new data."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from model.runtime import DOCUMENTS_FILE, INDEX_FILE, load_model
from model.similarity import SimilarityIndex
from model.store import ArtifactStore, new_version_id
from training.datasets import DEFAULT_TEXT_FIELDS, load_dataset


def write_documents(path: Path, dataset) -> None:
    """The similarity corpus' metadata, one JSON object per line in index row order."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, doc_id in enumerate(dataset.ids):
            row = {"id": doc_id, "title": dataset.titles[i]}
            for name, values in dataset.targets.items():
                row[name] = values[i]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_index(folder: Path, tagger, dataset, X=None):
    """Write the similarity index and its documents' metadata; return the word matrix."""
    X = tagger.features.transform(dataset.texts) if X is None else X
    words = tagger.features.word_block(X)
    SimilarityIndex(words, dataset.ids).save(folder / INDEX_FILE)
    write_documents(folder / DOCUMENTS_FILE, dataset)
    return words


def _given_or_predicted(tagger, dataset, X):
    """Per head, each record's own valid label(s), else the model's prediction."""
    predicted = tagger.predict_labels(X)
    targets = {}
    for spec in tagger.specs:
        known = set(tagger.labels_of(spec))
        values = []
        for record, guess in zip(dataset.records, predicted[spec.name], strict=True):
            value = record.get(spec.name)
            valid = (isinstance(value, list) and all(v in known for v in value
                                                     if isinstance(v, str))
                     and all(isinstance(v, str) for v in value)) if spec.multilabel \
                else (isinstance(value, str) and value in known)
            values.append(value if valid else guess)
        targets[spec.name] = values
    return targets


def reindex(data, home, text_fields=DEFAULT_TEXT_FIELDS, log=print):
    """Publish a new version: the current model with *data* as its similarity corpus.

    Records keep their own labels where the model knows them; the rest are predicted.
    """
    loaded = load_model(home, with_index=False)
    dataset = load_dataset(data, text_fields, require_labels=False)
    log(f"read {len(dataset)} records from {data}; indexing with model {loaded.version}")
    X = loaded.tagger.features.transform(dataset.texts)
    dataset.targets = _given_or_predicted(loaded.tagger, dataset, X)
    store = ArtifactStore(home)
    staging = store.staging()
    try:
        for name in loaded.manifest["files"]:
            if name not in (INDEX_FILE, DOCUMENTS_FILE):
                shutil.copy2(loaded.folder / name, staging / name)
        words = write_index(staging, loaded.tagger, dataset, X)
        manifest = {k: v for k, v in loaded.manifest.items() if k != "files"}
        manifest.update(
            version=new_version_id(), derived_from=loaded.version,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            index={"documents": len(dataset), "terms": int(words.shape[1]),
                   "dataset": {"path": str(data), "sha256": dataset.sha256}})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    store.publish(staging, manifest)
    log(f"published version {manifest['version']} ({len(dataset)} documents indexed)")
    return manifest


