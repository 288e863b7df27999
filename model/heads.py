"""One prediction head: linear SVMs whose scores are calibrated into probabilities.

Each head is fitted in three steps: out-of-fold SVM scores by cross-validation, a
calibration map fitted on those scores (per-label sigmoid for multi-label heads, a
multinomial logistic regression for single-label heads), then the SVMs refitted on all
the data. Calibration is affine in the SVM scores, so it folds into the SVM weights and
the whole head predicts with one product ``X @ coef_.T + intercept_``.
"""

from __future__ import annotations

import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from model.thresholds import tuned_thresholds

_FAR = 20.0  # logit of a label that never varies in training: p ~ 2e-9 or 1 - 2e-9


def _fit_binary(X, y, C, class_weight):
    """Coefficients and intercept of one binary SVM (a constant rule if y never varies)."""
    if y.min() == y.max():
        return np.zeros(X.shape[1], dtype=np.float32), _FAR if y[0] else -_FAR
    svm = LinearSVC(C=C, class_weight=class_weight, max_iter=20_000, dual="auto", random_state=0)
    svm.fit(X, y)
    return svm.coef_[0].astype(np.float32), float(svm.intercept_[0])


def _fit_svms(X, Y, C, class_weight, n_jobs):
    fits = Parallel(n_jobs=n_jobs)(
        delayed(_fit_binary)(X, Y[:, j], C, class_weight) for j in range(Y.shape[1])
    )
    W = np.vstack([w for w, _ in fits])
    b = np.array([c for _, c in fits], dtype=np.float64)
    return W, b


def _platt(scores, y):
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
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(s, labels, sample_weight=weights)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


class CalibratedLinearHead(ClassifierMixin, BaseEstimator):
    """Linear SVM head with calibrated probabilities and, if multi-label, tuned thresholds.

    Parameters
    ----------
    multilabel : bool
        Fit an indicator matrix (several labels per sample) instead of one class each.
    C : float
        SVM regularisation; larger fits the training data more closely.
    class_weight : "balanced" or None
        Weight each binary problem by inverse class frequency.
    cv : int
        Folds used for the out-of-fold scores that calibration and thresholds learn from.
    tune_thresholds : bool
        Tune a threshold per label on out-of-fold probabilities (multi-label only);
        when False every label uses ``default_threshold``.
    threshold_range : tuple of float
        Bounds of the threshold search.
    min_positives : int
        Labels with fewer positives keep ``default_threshold``.
    default_threshold : float
        Threshold of labels that are not tuned.
    random_state : int
        Seed of the fold shuffling.
    n_jobs : int or None
        Parallel jobs across labels.
    """

    def __init__(self, multilabel=False, C=0.5, class_weight="balanced", cv=5,
                 tune_thresholds=True, threshold_range=(0.1, 0.9), min_positives=3,
                 default_threshold=0.5, random_state=0, n_jobs=None):
        self.multilabel = multilabel
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.tune_thresholds = tune_thresholds
        self.threshold_range = threshold_range
        self.min_positives = min_positives
        self.default_threshold = default_threshold
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Fit on a feature matrix and an indicator matrix (multi-label) or class vector."""
        if self.multilabel:
            Y = np.asarray(y, dtype=np.int8)
            self.classes_, codes = np.arange(Y.shape[1]), None
        else:
            self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(f"a single-label head needs two classes or more, got {self.classes_!r}")
            Y = np.eye(len(self.classes_), dtype=np.int8)[codes]
        oof = self._out_of_fold_scores(X, Y, codes)
        W, b = _fit_svms(X, Y, self.C, self.class_weight, self.n_jobs)
        if self.multilabel:
            ab = np.array([_platt(oof[:, j], Y[:, j]) for j in range(Y.shape[1])])
            a, c = ab[:, 0], ab[:, 1]
            self.coef_ = (W * a[:, None].astype(np.float32)).astype(np.float32)
            self.intercept_ = a * b + c
            oof_proba = _sigmoid(oof * a + c)
            low, high = self.threshold_range
            if self.tune_thresholds:
                self.thresholds_ = tuned_thresholds(Y, oof_proba, low, high, self.min_positives,
                                                    self.default_threshold)
            else:
                self.thresholds_ = np.full(Y.shape[1], float(self.default_threshold))
        else:
            calib = LogisticRegression(C=1.0, max_iter=2000).fit(oof, codes)
            A, c = calib.coef_, calib.intercept_
            self.coef_ = (A @ W).astype(np.float32)
            self.intercept_ = A @ b + c
        return self

    def _out_of_fold_scores(self, X, Y, codes):
        n = X.shape[0]
        k = max(2, min(self.cv, n))
        if codes is None:
            folds = KFold(k, shuffle=True, random_state=self.random_state).split(X)
        else:
            with warnings.catch_warnings():
                # A class rarer than k folds is legal: it is simply missing from some folds.
                warnings.filterwarnings("ignore", "The least populated class", UserWarning)
                folds = list(StratifiedKFold(k, shuffle=True, random_state=self.random_state)
                             .split(X, codes))
        oof = np.zeros(Y.shape, dtype=np.float64)
        for train, test in folds:
            W, b = _fit_svms(X[train], Y[train], self.C, self.class_weight, self.n_jobs)
            oof[test] = X[test] @ W.T + b
        return oof

    def decision_function(self, X):
        """Calibrated logits, shape (n_samples, n_labels)."""
        check_is_fitted(self, "coef_")
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X):
        """Probabilities: independent per label (multi-label) or summing to one."""
        z = self.decision_function(X)
        return _sigmoid(z) if self.multilabel else _softmax(z)

    def predict(self, X):
        """Indicator matrix (multi-label) or class labels."""
        p = self.predict_proba(X)
        if self.multilabel:
            return (p >= self.thresholds_).astype(np.int8)
        return self.classes_[np.argmax(p, axis=1)]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
