"""The linear SVMs a head is made of, and the sigmoid that calibrates their scores.

`fit_all` fits one binary SVM per label (and per cross-validation fold, for the
out-of-fold scores calibration learns from) with liblinear; `platt` fits Platt's
sigmoid to scores.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

_FAR = 20.0  # logit of a label that never varies in training: p ~ 2e-9 or 1 - 2e-9
_MIN_SLOPE = 1e-3  # calibration slope of scores that carry no evidence


def nb_ratios(X, y, power, alpha=1.0):
    """Per-feature scale ``|log-count ratio| ** power`` of a binary problem (NBSVM).

    The ratio compares how often a feature occurs in positive and in negative
    documents (Wang & Manning, 2012); features that tell the classes apart get more
    room before the SVM's regularisation bites.
    """
    present = X.getnnz(axis=0).astype(np.float64)
    pos = X[np.flatnonzero(y)].getnnz(axis=0).astype(np.float64) + alpha
    neg = present - pos + 2 * alpha
    ratio = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
    return (np.abs(ratio) ** power).astype(np.float32)


def class_weights(y, class_weight, balance=1.0):
    """liblinear's weights of the two classes of binary *y*.

    ``class_weight="balanced"`` weighs class c by ``(n / (2 n_c)) ** balance``: 1 is
    scikit-learn's "balanced", 0 weighs both classes alike, and between the two a rare
    label's positives count for more without drowning its negatives.
    """
    if class_weight != "balanced" or balance == 1.0:
        return class_weight
    n, n_pos = len(y), int(np.count_nonzero(y))
    return {1: (n / (2 * n_pos)) ** balance, 0: (n / (2 * (n - n_pos))) ** balance}


def fit_binary(X, y, C, class_weight, nb_power=0.0, balance=1.0):
    """Coefficients and intercept of one binary SVM (a constant rule if y never varies)."""
    if y.min() == y.max():
        return np.zeros(X.shape[1], dtype=np.float32), _FAR if y[0] else -_FAR
    scale = nb_ratios(X, y, nb_power) if nb_power else None
    Xs = X @ sp.diags(scale) if scale is not None else X
    # tol 1e-3 (liblinear's own default; scikit-learn's is 1e-4) takes a third off the
    # fitting time; on Reuters, scores moved by at most 0.0002 (bench/README.md).
    svm = LinearSVC(C=C, class_weight=class_weights(y, class_weight, balance), tol=1e-3,
                    max_iter=20_000, dual="auto", random_state=0)
    svm.fit(Xs, y)
    w = svm.coef_[0] if scale is None else svm.coef_[0] * scale
    return w.astype(np.float32), float(svm.intercept_[0])


def fit_all(X, Y, folds, C, class_weight, nb_power, balance, n_jobs, rows=None):
    """Out-of-fold scores of one SVM per (fold, label), and the SVMs fitted on all rows.

    *rows* (a boolean matrix shaped like *Y*, optional) says which rows each column's SVM
    learns from; every row is scored all the same. liblinear releases the GIL, so
    threads run the fits in parallel without copying X.
    """
    everything = np.arange(X.shape[0])
    parts = [(train, test) for train, test in folds] + [(everything, None)]

    def fit(train, test, j):
        if rows is not None and not rows[:, j].all():
            train = train[rows[train, j]]
        w, b = fit_binary(X[train], Y[train, j], C, class_weight, nb_power, balance)
        return (w, b) if test is None else X[test] @ w + b

    done = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(fit)(*part, j) for part in parts for j in range(Y.shape[1]))
    n = Y.shape[1]
    oof = np.zeros(Y.shape, dtype=np.float64)
    for k, (_, test) in enumerate(folds):
        oof[test] = np.column_stack(done[k * n:(k + 1) * n])
    final = done[len(folds) * n:]
    W = np.vstack([w for w, _ in final])
    b = np.array([c for _, c in final], dtype=np.float64)
    return oof, W, b


def platt(scores, y):
    """Sigmoid calibration a*s + c fitted with Platt's smoothed targets."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 1.0, 0.0
    hi, lo = (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0)
    target = np.where(y == 1, hi, lo)
    # Soft targets as two weighted copies of every sample: exactly Platt's log-loss.
    s = np.concatenate([scores, scores]).reshape(-1, 1)
    labels = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
    weights = np.concatenate([target, 1.0 - target])
    # Newton-CG solves this two-parameter problem ~8x faster than lbfgs, and to a tighter
    # optimum: with 90 labels the lbfgs default was a third of a Reuters training run.
    lr = LogisticRegression(C=1e4, max_iter=1000, solver="newton-cg").fit(
        s, labels, sample_weight=weights)
    slope = float(lr.coef_[0, 0])
    if slope < _MIN_SLOPE:
        # Scores that do not rise with the label are no evidence; a falling sigmoid would
        # invert every cut. Keep the order of the scores and say the base rate.
        return _MIN_SLOPE, float(np.log(hi * n_pos + lo * n_neg) - np.log((1 - hi) * n_pos
                                                                        + (1 - lo) * n_neg))
    return slope, float(lr.intercept_[0])
