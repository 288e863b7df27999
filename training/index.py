"""Similarity corpora: write a version's index, or re-index the current model on new data.

`reindex` streams: records are read, vectorised and labelled a block at a time (in
worker processes when there are several blocks), their metadata written as they come
and their rows handed to an `IndexWriter`, so a corpus of a million documents never
sits in memory as text, and its matrix only once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import shutil
import time
from collections import deque
from pathlib import Path

import numpy as np

from model.cluster import dask_client, worker_count, worker_model
from model.corpus import LabelColumns, save_line_ends
from model.index_writer import IndexWriter
from model.loaded import load_verified
from model.manifest import IndexInfo, Manifest
from model.records import DEFAULT_TEXT_FIELDS, validated_records
from model.similarity import SimilarityIndex
from model.store import (
    DOCUMENT_ENDS,
    DOCUMENTS_FILE,
    INDEX_FILE,
    LABELS_FILE,
    SCORES_FILE,
    ArtifactStore,
    holding_lock,
    sha256_of,
)

BLOCK = 5_000  # records vectorised together


def _label_columns(tagger):
    return LabelColumns({spec.name: tagger.labels_of(spec) for spec in tagger.specs})


def _document_lines(fh, ids, titles, labels):
    """One line per document: its id, title and labels (*labels*: one dict per document)."""
    for doc_id, title, row in zip(ids, titles, labels, strict=True):
        fh.write(json.dumps({"id": doc_id, "title": title, **row}, ensure_ascii=False) + "\n")


def write_scores(path: Path, tagger, blocks):
    """Save each head's probabilities for the rows of *blocks* (head -> array, in row order)."""
    arrays = {spec.name: np.concatenate([b[spec.name] for b in blocks]) if blocks else
              np.zeros((0, len(tagger.labels_of(spec))), dtype=np.float32)
              for spec in tagger.specs}
    with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a path
        np.savez(fh, **arrays)


def head_scores(tagger, X):
    """Per head, the probabilities of each row of *X* as float32 (stored for the review queue)."""
    return {spec.name: tagger.heads[spec.name].predict_proba(X).astype(np.float32)
            for spec in tagger.specs}


def write_index(folder: Path, tagger, dataset):
    """Write the similarity index, its documents' metadata and scores; return the index."""
    features = tagger.features
    X, counts = features.transform_with_index(dataset.texts)
    write_scores(folder / SCORES_FILE, tagger, [head_scores(tagger, X)])
    index = SimilarityIndex.from_counts(counts, features.index_idf_, dataset.ids)
    index.save(folder / INDEX_FILE)
    with open(folder / DOCUMENTS_FILE, "w", encoding="utf-8") as fh:
        # The trained corpus keeps its texts, so reviewers can read what they review.
        _document_lines(fh, dataset.ids, dataset.titles,
                        [{"text": dataset.texts[i], **{k: v[i] for k, v in dataset.targets.items()}}
                         for i in range(len(dataset))])
    save_line_ends(folder / DOCUMENTS_FILE, folder / DOCUMENT_ENDS)
    labels = _label_columns(tagger)
    labels.add(len(dataset.ids), dataset.targets)
    labels.save(folder / LABELS_FILE)
    return index


def read_corpus(path, text_fields=DEFAULT_TEXT_FIELDS, block=BLOCK):
    """Yield blocks of (id, title, text, record), validated as `load_dataset` does for text.

    The last text field is the body and must be a non-empty string; ids are unique.
    Raises `InvalidInput` naming the file, line and field of the first bad record.
    """
    out = []
    for _, rid, title, text, record in validated_records(path, text_fields, empty_option=None):
        out.append((rid, title, text, record))
        if len(out) == block:
            yield out
            out = []
    if out:
        yield out


_worker_tagger = None  # set in the parent before forking, so workers inherit it unpickled


def _vectorize_block(texts, given, tagger=None):
    """Index term counts of a block of texts, and each one's labels: given where valid, else predicted."""
    tagger = tagger or _worker_tagger
    X, counts = tagger.features.transform_with_index(texts)
    return (counts,
            [labels for labels, _ in tagger.given_or_predicted(X, given)], head_scores(tagger, X))


def _given(tagger, block):
    """The labels each record of a block came with, per head of *tagger*."""
    return [{spec.name: record.get(spec.name) for spec in tagger.specs}
            for *_, record in block]


def vectorized_blocks(tagger, blocks, n_jobs=None):
    """Yield (block, word rows, labels, scores) in order, using up to *n_jobs* processes.

    Each block holds (id, title, text, record) tuples (see `read_corpus`); each record
    keeps its own labels where the model knows them, and the rest are predicted.

    Only a second block starts the worker pool, so a small corpus is done in this
    process. At most two blocks per worker are in flight, so memory stays bounded.
    """
    global _worker_tagger
    n_jobs = n_jobs or os.cpu_count() or 1
    blocks = iter(blocks)
    head = list(itertools.islice(blocks, 2))
    if len(head) < 2 or n_jobs == 1:
        for block in itertools.chain(head, blocks):
            yield (block, *_vectorize_block([b[2] for b in block], _given(tagger, block), tagger))
        return
    _worker_tagger = tagger
    try:
        with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
            pending = deque()
            for block in itertools.chain(head, blocks):
                texts = [b[2] for b in block]
                pending.append((block, pool.apply_async(_vectorize_block,
                                                        (texts, _given(tagger, block)))))
                if len(pending) >= 2 * n_jobs:
                    done, result = pending.popleft()
                    yield (done, *result.get())
            while pending:
                done, result = pending.popleft()
                yield (done, *result.get())
    finally:
        _worker_tagger = None


def _vectorize_on_worker(home, version, texts, given, key=None):
    return _vectorize_block(texts, given, worker_model(home, version, key=key).tagger)


def cluster_vectorized_blocks(client, home, version, tagger, blocks, key=None):
    """`vectorized_blocks` on a Dask cluster: the same results, in the same order.

    Tasks carry a block's texts and the version's name; each worker loads the model
    once (`worker_model`). At most two blocks per worker are in flight.
    """
    in_flight, pending = 2 * worker_count(client), deque()
    for block in blocks:
        pending.append((block, client.submit(_vectorize_on_worker, home, version,
                                             [b[2] for b in block], _given(tagger, block),
                                             key, pure=False)))
        if len(pending) >= in_flight:
            done, future = pending.popleft()
            yield (done, *future.result())
    while pending:
        done, future = pending.popleft()
        yield (done, *future.result())


@holding_lock
def reindex(data, home, text_fields=DEFAULT_TEXT_FIELDS, log=print, n_jobs=None, scheduler=None,
            key=None, keep=5):
    """Publish a new version: the current model with *data* as its similarity corpus.

    Records keep their own labels where the model knows them; the rest are predicted.
    Vectorising runs in local processes, or on the Dask cluster at *scheduler*.
    Holds the home's write lock throughout, so a second run fails at once. *key* seals
    the version (and opens the current one); *keep* versions are kept.
    """
    loaded = load_verified(home, with_index=False, key=key)
    tagger = loaded.tagger
    log(f"indexing {data} with model {loaded.version}")
    with ArtifactStore(home, key, keep).new_version() as staged, \
            contextlib.ExitStack() as cluster:
        for name in loaded.manifest["files"]:
            if Path(name).parts[0] not in (INDEX_FILE, DOCUMENTS_FILE, DOCUMENT_ENDS, LABELS_FILE,
                                           SCORES_FILE):
                shutil.copy2(loaded.folder / name, staged.folder / name)
        n_terms = tagger.features.n_index_terms
        writer = IndexWriter(staged.folder / INDEX_FILE, n_terms, idf=tagger.features.index_idf_)
        cluster.callback(writer.discard)  # a bad record stops the build: no open scratch files
        ids, labels, scores = [], _label_columns(tagger), []
        started = time.perf_counter()
        with open(staged.folder / DOCUMENTS_FILE, "w", encoding="utf-8") as docs:
            blocks = read_corpus(data, text_fields, BLOCK)
            if scheduler:
                client = cluster.enter_context(dask_client(scheduler))
                log(f"vectorising on the Dask cluster at {scheduler}")
                vectorized = cluster_vectorized_blocks(client, str(Path(home).resolve()),
                                                       loaded.version, tagger, blocks, key)
            else:
                vectorized = vectorized_blocks(tagger, blocks, n_jobs)
            for block, words, block_labels, block_scores in vectorized:
                scores.append(block_scores)
                block_ids = [b[0] for b in block]
                # Kept with their texts, as training keeps the corpus', for the review page.
                _document_lines(docs, block_ids, [b[1] for b in block],
                                [{"text": b[2], **row} for b, row in zip(block, block_labels,
                                                                          strict=True)])
                labels.add(len(block), {spec.name: [row[spec.name] for row in block_labels]
                                        for spec in tagger.specs})
                ids.extend(block_ids)
                writer.add(words)
                if len(ids) % 100_000 < len(block):
                    log(f"  {len(ids)} documents vectorised")
        save_line_ends(staged.folder / DOCUMENTS_FILE, staged.folder / DOCUMENT_ENDS)
        tagged = time.perf_counter()
        log(f"  {len(ids)} documents vectorised and tagged in {tagged - started:.1f} s")
        writer.close(ids)
        log(f"  index written in {time.perf_counter() - tagged:.1f} s")
        labels.save(staged.folder / LABELS_FILE)
        write_scores(staged.folder / SCORES_FILE, tagger, scores)
        manifest = Manifest.from_dict(loaded.manifest).reindexed(
            staged.version, IndexInfo(len(ids), int(n_terms), str(data), sha256_of(Path(data)))
        ).as_dict()
        staged.manifest = manifest
    log(f"published version {manifest['version']} ({len(ids)} documents indexed)")
    return manifest
