"""Measure a tagger: cross-validation of the whole pipeline, or a fitted model on new data."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from tqdm import tqdm

from model.errors import InvalidInput
from model.tagger import Tagger


@dataclass
class HeadResult:
    """True and predicted labels of one head over a dataset, with its metrics."""

    name: str
    multilabel: bool
    labels: list[str]
    summary: dict
    per_label: list[dict]
    confusion: list[list[int]] | None = None
    thresholds: dict = field(default_factory=dict)


def score_head(name, multilabel, y_true, y_pred, labels=()):
    """Metrics of one head: micro/macro-F1 (plus accuracy if single-label) and per label."""
    if multilabel:
        labels = sorted(set(labels) | {v for vs in y_true for v in vs})
        index = {label: j for j, label in enumerate(labels)}
        T, P = _indicator(y_true, index), _indicator(y_pred, index)
        summary = {"micro_f1": _r(f1_score(T, P, average="micro", zero_division=0)),
                   "macro_f1": _r(f1_score(T, P, average="macro", zero_division=0)),
                   "n": len(y_true)}
        p, r, f, s = precision_recall_fscore_support(T, P, average=None, zero_division=0)
        confusion = None
    else:
        labels = sorted(set(labels) | set(y_true) | set(y_pred))
        summary = {"accuracy": _r(accuracy_score(y_true, y_pred)),
                   "micro_f1": _r(f1_score(y_true, y_pred, labels=labels, average="micro",
                                           zero_division=0)),
                   "macro_f1": _r(f1_score(y_true, y_pred, labels=labels, average="macro",
                                           zero_division=0)),
                   "n": len(y_true)}
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                     zero_division=0)
        confusion = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    per_label = [{"label": lab, "precision": _r(p[j]), "recall": _r(r[j]), "f1": _r(f[j]),
                  "support": int(s[j])} for j, lab in enumerate(labels)]
    return HeadResult(name, multilabel, labels, summary, per_label, confusion)


def _indicator(rows, index):
    Y = np.zeros((len(rows), len(index)), dtype=np.int8)
    for i, labels in enumerate(rows):
        for label in labels:
            if label in index:
                Y[i, index[label]] = 1
    return Y


def _r(x):
    return round(float(x), 4)


def evaluate_model(tagger: Tagger, dataset):
    """Score a fitted tagger on a labelled dataset; one `HeadResult` per head it shares."""
    X = tagger.features.transform(dataset.texts)
    predicted = tagger.predict_labels(X)
    results = {}
    for spec in tagger.specs:
        if spec.name in dataset.targets:
            results[spec.name] = score_head(spec.name, spec.multilabel, dataset.targets[spec.name],
                                            predicted[spec.name], tagger.labels_of(spec))
    return results


def _strata(dataset):
    """The labels of the first single-label head, to stratify splits on (None if none)."""
    for spec in dataset.specs:
        if not spec.multilabel:
            labels = np.asarray(dataset.targets[spec.name], dtype=object)
            _, counts = np.unique(labels, return_counts=True)
            return labels if counts.min() >= 2 else None
    return None


def check_trainable(dataset, folds=0, option="--folds"):
    """Raise `InvalidInput` if *dataset* cannot train a model, or be cross-validated in *folds*.

    A single-label head needs records of two labels or more; K-fold cross-validation,
    stratified on those labels, needs K records of each label and K records in all.
    *option* names the setting of *folds* in the message.
    """
    fewest = (len(dataset), f"{dataset.path}: {len(dataset)} records")
    for spec in dataset.specs:
        if spec.multilabel:
            continue
        labels, counts = np.unique(np.asarray(dataset.targets[spec.name], dtype=object),
                                   return_counts=True)
        if len(labels) < 2:
            raise InvalidInput(f"{dataset.path}, field {spec.name!r}: every record has the label "
                               f"{labels[0]!r}; a single-label head needs two labels or more")
        j = int(np.argmin(counts))
        if counts[j] < fewest[0]:
            fewest = (int(counts[j]), f"{dataset.path}, field {spec.name!r}: label {labels[j]!r} "
                                      f"has {counts[j]} record{'s' if counts[j] > 1 else ''}")
    most, what = fewest
    if folds > most:
        fix = f"use {option} {most} or fewer, or add records" if most >= 2 else \
            "add records like it, or remove it"
        raise InvalidInput(f"{what}, fewer than the {folds} folds of {option}; {fix}")


def cross_validate(dataset, make_tagger, folds=5, seed=0, progress=True):
    """K-fold cross-validation of the whole pipeline (features, heads, tuning) on *dataset*.

    Every fold fits a fresh tagger from ``make_tagger()`` on the other folds, tuning
    included, so no score ever sees its own training data. Folds are stratified on the
    first single-label head, if there is one.
    """
    n = len(dataset)
    k = max(2, min(folds, n))
    strata = _strata(dataset)
    if strata is not None and np.unique(strata, return_counts=True)[1].min() >= k:
        splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(strata, strata))
    else:
        splits = list(KFold(k, shuffle=True, random_state=seed).split(np.arange(n)))
    predicted = {spec.name: [None] * n for spec in dataset.specs}
    # disable=None: no bar when stderr is not a terminal, so logs get no carriage returns
    for train, test in tqdm(splits, desc="cross-validation", unit="fold",
                            disable=None if progress else True, leave=False):
        _fit_and_predict(dataset, make_tagger, train, test, predicted)
    return {spec.name: score_head(spec.name, spec.multilabel, dataset.targets[spec.name],
                                  predicted[spec.name], spec.labels)
            for spec in dataset.specs}


def hold_out(dataset, make_tagger, share=0.2, seed=0):
    """Fit a fresh tagger on a seeded (1 - *share*) of *dataset* and score it on the rest.

    The split is stratified on the first single-label head, if there is one.
    """
    rows = np.arange(len(dataset))
    train, test = train_test_split(rows, test_size=share, random_state=seed,
                                   stratify=_strata(dataset))
    predicted = {spec.name: [None] * len(dataset) for spec in dataset.specs}
    _fit_and_predict(dataset, make_tagger, train, test, predicted)
    return {spec.name: score_head(spec.name, spec.multilabel,
                                  [dataset.targets[spec.name][i] for i in test],
                                  [predicted[spec.name][i] for i in test], spec.labels)
            for spec in dataset.specs}


def _fit_and_predict(dataset, make_tagger, train, test, predicted):
    part = dataset.subset(train)
    tagger = make_tagger(part.specs).fit(part.texts, part.targets)
    X = tagger.features.transform([dataset.texts[i] for i in test])
    for name, rows in tagger.predict_labels(X).items():
        for i, row in zip(test, rows, strict=True):
            predicted[name][i] = row


def metrics_json(results):
    """The `evaluate --json` shape: head name -> summary metrics."""
    return {name: result.summary for name, result in results.items()}
