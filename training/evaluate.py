"""Measure a tagger: cross-validation of the whole pipeline, or a fitted model on new data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    label_ranking_average_precision_score,
    ndcg_score,
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


def score_head(name, multilabel, y_true, y_pred, labels=(), scores=None, score_labels=None):
    """Metrics of one head: micro/macro-F1 (plus accuracy if single-label) and per label.

    *scores* (rows x *score_labels*, the head's probabilities) add, for a multi-label
    head, the ranking measures of `ranking_measures`.
    """
    if multilabel:
        labels = sorted(set(labels) | {v for vs in y_true for v in vs})
        index = {label: j for j, label in enumerate(labels)}
        T, P = _indicator(y_true, index), _indicator(y_pred, index)
        summary = {"micro_f1": _r(f1_score(T, P, average="micro", zero_division=0)),
                   "macro_f1": _r(f1_score(T, P, average="macro", zero_division=0)),
                   "n": len(y_true)}
        p, r, f, s = precision_recall_fscore_support(T, P, average=None, zero_division=0)
        confusion = None
        if scores is not None:
            columns = {label: j for j, label in enumerate(score_labels)}
            summary.update(ranking_measures(_indicator(y_true, columns), np.asarray(scores)))
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


def ranking_measures(T, S, ks=(1, 3, 5)):
    """How well the scores *S* rank the true labels *T* (indicator matrix), as Annif reports.

    ``precision_at_k``: share of the k best-scored labels that are true, averaged over
    records; ``ndcg`` and ``ndcg_at_5``: normalised discounted cumulative gain over the
    whole ranking and its top 5; ``lrap``: label ranking average precision. Records
    without a true label have nothing to rank and are left out (``n_ranked``).
    """
    keep = T.sum(axis=1) > 0
    T, S = T[keep], S[keep]
    out = {"n_ranked": int(keep.sum())}
    if not len(T) or T.shape[1] < 2:
        return out
    order = np.argsort(-S, axis=1, kind="stable")
    hits = np.take_along_axis(T, order, axis=1)
    for k in ks:
        out[f"precision_at_{k}"] = _r(hits[:, :k].sum(axis=1).mean() / k)
    out["ndcg"] = _r(ndcg_score(T, S))
    out["ndcg_at_5"] = _r(ndcg_score(T, S, k=5))
    out["lrap"] = _r(label_ranking_average_precision_score(T, S))
    return out


def worst_records(dataset, head, predicted, scores, score_labels, n):
    """The *n* records of *dataset* a head got most wrong, worst first.

    A record's loss is the probability the head put on the wrong side: for a
    multi-label head, summed over its labels (``|truth - p|``); for a single-label head,
    one minus the probability of the true label. Records with more wrong decisions come
    first, then the larger loss.
    """
    truth = dataset.targets[head]
    columns = {label: j for j, label in enumerate(score_labels)}
    S = np.asarray(scores, dtype=np.float64)
    ranked = []
    for i, (true, pred) in enumerate(zip(truth, predicted, strict=True)):
        if isinstance(true, list):
            t = np.zeros(len(score_labels))
            t[[columns[v] for v in true if v in columns]] = 1
            wrong = len(set(true) ^ set(pred))
            loss = float(np.abs(t - S[i]).sum())
        else:
            wrong = int(true != pred)
            loss = 1.0 - float(S[i, columns[true]]) if true in columns else 1.0
        ranked.append((-wrong, -loss, i))
    ranked.sort()
    return [{"id": dataset.ids[i], "title": dataset.titles[i], "true": truth[i],
             "predicted": predicted[i], "wrong": -w, "loss": _r(-loss)}
            for w, loss, i in ranked[:n] if w < 0]


def _indicator(rows, index):
    Y = np.zeros((len(rows), len(index)), dtype=np.int8)
    for i, labels in enumerate(rows):
        for label in labels:
            if label in index:
                Y[i, index[label]] = 1
    return Y


def _r(x):
    return round(float(x), 4)


# Below this many records a fold takes less time than starting worker processes.
PARALLEL_FOLDS_MIN_RECORDS = 1000


@dataclass
class Predictions:
    """Per head, each record's predicted labels and probabilities (columns: ``labels``)."""

    labels: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)

    def subset(self, rows):
        """The same predictions restricted to *rows* (a list of indices)."""
        return Predictions(dict(self.labels),
                           {k: [v[i] for i in rows] for k, v in self.predicted.items()},
                           {k: np.asarray(v)[list(rows)] for k, v in self.scores.items()})


def predict(tagger: Tagger, texts):
    """The labels and probabilities of every head of a fitted *tagger* for *texts*.

    The probabilities' columns are the head spec's labels, whichever classes it saw.
    """
    X = tagger.features.transform(list(texts))
    out = Predictions(predicted=tagger.predict_labels(X))
    for spec in tagger.specs:
        labels, own = list(spec.labels), list(tagger.labels_of(spec))
        P = tagger.heads[spec.name].predict_proba(X)
        if own != labels:  # a single-label head fitted on data without some of its classes
            full = np.zeros((P.shape[0], len(labels)))
            full[:, [labels.index(label) for label in own]] = P
            P = full
        out.labels[spec.name], out.scores[spec.name] = labels, P
    return out


def score(dataset, predictions, rows=None):
    """One `HeadResult` per head of *predictions* that *dataset* has labels for."""
    rows = range(len(dataset)) if rows is None else rows
    results = {}
    for spec in dataset.specs:
        if spec.name not in predictions.predicted:
            continue
        truth = dataset.targets[spec.name]
        labels = predictions.labels[spec.name]
        results[spec.name] = score_head(
            spec.name, spec.multilabel, [truth[i] for i in rows],
            [predictions.predicted[spec.name][i] for i in rows], labels,
            scores=np.asarray(predictions.scores[spec.name])[list(rows)], score_labels=labels)
    return results


def evaluate_model(tagger: Tagger, dataset):
    """Score a fitted tagger on a labelled dataset: (`HeadResult` per shared head, predictions)."""
    predictions = predict(tagger, dataset.texts)
    for name in list(predictions.predicted):
        if name not in dataset.targets:
            del predictions.predicted[name]
    return score(dataset, predictions), predictions


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


def fold_splits(dataset, folds=5, seed=0):
    """The seeded (train, test) row splits `cross_validate` uses: the same for every run."""
    n = len(dataset)
    k = max(2, min(folds, n))
    strata = _strata(dataset)
    if strata is not None and np.unique(strata, return_counts=True)[1].min() >= k:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(strata, strata))
    return list(KFold(k, shuffle=True, random_state=seed).split(np.arange(n)))


def cross_validate(dataset, make_tagger, folds=5, seed=0, progress=True, n_jobs=1,
                   with_predictions=False, fit_all=False):
    """K-fold cross-validation of the whole pipeline (features, heads, tuning) on *dataset*.

    Every fold fits a fresh tagger from ``make_tagger(specs, jobs)`` on the other folds,
    tuning included, so no score ever sees its own training data. Folds are stratified
    on the first single-label head, if there is one. With *n_jobs* other than 1 and a
    dataset of `PARALLEL_FOLDS_MIN_RECORDS` or more, the folds run in that many worker
    processes (-1: one per core), each tagger on one core; otherwise the folds run one
    after the other, each tagger using *n_jobs* threads. Returns the results per head,
    and with *with_predictions* also every record's out-of-fold `Predictions`.

    With *fit_all*, a tagger is also fitted on every record, as one more job of the same
    pool (first, since it is the longest: 5 folds and the final fit on 2 cores take
    three rounds instead of three and a half), and returned last.
    """
    n = len(dataset)
    splits = fold_splits(dataset, folds, seed)
    k = len(splits)
    # disable=None: no bar when stderr is not a terminal, so logs get no carriage returns
    bar = tqdm(total=k, desc="cross-validation", unit="fold", disable=None if progress else True,
               leave=False)
    jobs = ([(np.arange(n), None)] if fit_all else []) + list(splits)
    if n_jobs != 1 and n >= PARALLEL_FOLDS_MIN_RECORDS:
        workers = min(len(jobs), os.cpu_count() or 1) if n_jobs in (None, -1) \
            else min(len(jobs), n_jobs)
        # Unordered, so the bar moves as folds end, not only once the final fit has.
        done = Parallel(n_jobs=workers, return_as="generator_unordered")(
            delayed(_numbered)(i, dataset, make_tagger, train, test, 1)
            for i, (train, test) in enumerate(jobs))
    else:
        done = (_numbered(i, dataset, make_tagger, train, test, n_jobs)
                for i, (train, test) in enumerate(jobs))
    predictions, final = Predictions(), None
    for i, part in done:
        test = jobs[i][1]
        if test is None:
            final = part
            continue
        gather(predictions, part, test, n)
        bar.update()
    bar.close()
    results = score(dataset, predictions)
    if with_predictions:
        return (results, predictions, final) if fit_all else (results, predictions)
    return (results, final) if fit_all else results


def _numbered(i, *args):
    """``(i, fit_and_predict(*args))``: a pool's answers say which job they belong to."""
    return i, fit_and_predict(*args)


def hold_out(dataset, make_tagger, share=0.2, seed=0, n_jobs=1):
    """Fit a fresh tagger on a seeded (1 - *share*) of *dataset* and score it on the rest.

    The split is stratified on the first single-label head, if there is one. Returns the
    results per head and the held-out records' `Predictions` (other rows empty).
    """
    rows = np.arange(len(dataset))
    train, test = train_test_split(rows, test_size=share, random_state=seed,
                                   stratify=_strata(dataset))
    predictions = Predictions()
    gather(predictions, fit_and_predict(dataset, make_tagger, train, test, n_jobs), test,
            len(dataset))
    return score(dataset, predictions, list(test)), predictions


def fit_and_predict(dataset, make_tagger, train, test, n_jobs):
    """Fit ``make_tagger(specs, n_jobs)`` on the *train* rows; `Predictions` of the *test* rows.

    With *test* None, the fitted tagger itself.
    """
    part = dataset.subset(train) if len(train) < len(dataset) else dataset
    tagger = make_tagger(part.specs, n_jobs).fit(part.texts, part.targets)
    return tagger if test is None else predict(tagger, [dataset.texts[i] for i in test])


def gather(into, part, rows, n):
    """Put the predictions *part* for *rows* into *into*, which holds all *n* records."""
    for name, predicted in part.predicted.items():
        labels = into.labels.setdefault(name, part.labels[name])
        into.predicted.setdefault(name, [None] * n)
        scores = into.scores.setdefault(name, np.zeros((n, len(labels))))
        for i, row, p in zip(rows, predicted, part.scores[name], strict=True):
            into.predicted[name][i] = row
            scores[i] = p


def metrics_json(results, per_label=False):
    """The `evaluate --json` shape: head name -> summary metrics (and, if asked, per label)."""
    out = {}
    for name, result in results.items():
        out[name] = dict(result.summary)
        if per_label:
            out[name]["per_label"] = {row["label"]: {k: v for k, v in row.items() if k != "label"}
                                      for row in result.per_label}
    return out
