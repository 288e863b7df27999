"""Train a tagger on a dataset and publish it, with its index and report, as a new version."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import joblib

from model.features import TextFeatures
from model.store import MODEL_FILE, ArtifactStore, new_version_id
from model.tagger import Tagger
from training.datasets import DEFAULT_TEXT_FIELDS, load_dataset, with_labelled_documents
from training.evaluate import cross_validate, metrics_json
from training.index import write_index
from training.report import metrics_table, write_report

FEATURE_PARAMS = {"word_ngrams": (1, 2), "min_df": 2, "max_df": 0.9, "char_ngrams": None}
HEAD_PARAMS = {"C": 0.5, "class_weight": "balanced", "cv": 5, "threshold_range": (0.1, 0.9),
               "min_positives": 3}
LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "flask")


def make_tagger(specs, feature_params=None, head_params=None, n_jobs=None):
    """A fresh, unfitted tagger with the project's default settings."""
    features = TextFeatures(**{**FEATURE_PARAMS, **(feature_params or {})})
    return Tagger(features, specs, {**HEAD_PARAMS, **(head_params or {}), "n_jobs": n_jobs})


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions():
    """Installed versions of the libraries a model depends on."""
    return {name: metadata.version(name) for name in LIBRARIES}


def train(data, home, *args, **kwargs):
    """Validate *data*, cross-validate the pipeline, fit it on everything, publish a version.

    Holds the home's write lock throughout, so a second run fails at once. With the
    default heads, documents added through the API with both labels join the data.
    Returns the published version's manifest; ``current`` changes only once the whole
    version is on disk. Arguments are those of `_train`.
    """
    with ArtifactStore(home).lock():
        return _train(data, home, *args, **kwargs)


def _train(data, home, text_fields=DEFAULT_TEXT_FIELDS, label_fields=None, where=None, folds=5,
          progress=True, log=print, n_jobs=None):
    """Validate *data*, cross-validate the pipeline, fit it on everything, publish a version.

    Returns the published version's manifest. ``current`` changes only once the
    whole version is on disk.
    """
    started = time.perf_counter()
    dataset = load_dataset(data, text_fields, label_fields, where=where)
    if label_fields is None:
        dataset = with_labelled_documents(dataset, home, log)
    log(f"read {len(dataset)} records from {data}; heads: "
        + ", ".join(f"{s.name} ({'multi' if s.multilabel else 'single'}-label, "
                    f"{len(s.labels)} labels)" for s in dataset.specs))
    results = {}
    if folds >= 2:
        log(f"cross-validating the pipeline ({folds} folds)")
        results = cross_validate(dataset, lambda specs: make_tagger(specs, n_jobs=n_jobs),
                                 folds=folds, progress=progress)
    log("fitting the final model on all records")
    tagger = make_tagger(dataset.specs, n_jobs=n_jobs).fit(dataset.texts, dataset.targets)
    store = ArtifactStore(home)
    staging = store.staging()
    try:
        joblib.dump(tagger, staging / MODEL_FILE)
        words = write_index(staging, tagger, dataset)
        thresholds = {s.name: dict(zip(s.labels, map(float, tagger.heads[s.name].thresholds_),
                                       strict=True))
                      for s in dataset.specs if s.multilabel}
        version = new_version_id()
        manifest = {
            "version": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": {"path": str(data), "sha256": dataset.sha256, "records": len(dataset),
                        "where": where},
            "text_fields": list(text_fields),
            "heads": [{"name": s.name, "kind": "multi-label" if s.multilabel else "single-label",
                       "labels": list(tagger.labels_of(s)),
                       **({"thresholds": thresholds[s.name]} if s.multilabel else {})}
                      for s in dataset.specs],
            "parameters": {"features": FEATURE_PARAMS, "heads": HEAD_PARAMS},
            "evaluation": {"folds": folds, "metrics": metrics_json(results)},
            "index": {"documents": len(dataset), "terms": int(words.shape[1]),
                      "dataset": {"path": str(data), "sha256": dataset.sha256}},
            "libraries": library_versions(),
            "python": platform.python_version(),
            "git_commit": _git_commit(),
            "training_seconds": round(time.perf_counter() - started, 1),
        }
        if results:
            write_report(staging, manifest, results, thresholds)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    store.publish(staging, manifest)
    log(f"published version {version} in {Path(home) / 'versions'} "
        f"({manifest['training_seconds']} s)")
    if results:
        log(metrics_table(results))
    sys.stdout.flush()
    return manifest
