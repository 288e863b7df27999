"""One prediction head: linear SVMs whose scores are calibrated into probabilities.

Each head is fitted in three steps: out-of-fold SVM scores by cross-validation, a
calibration map fitted on those scores (per-label sigmoid for multi-label heads, a
multinomial logistic regression for single-label heads), then the SVMs refitted on all
the data. Calibration is affine in the SVM scores, so it folds into the SVM weights and
the whole head predicts with one product ``X @ coef_.T + intercept_``.

Labels with few examples are where multi-label heads lose most (macro-F1 weighs every
label alike). Their out-of-fold scores are too few to tune a cut or a sigmoid on, so
they share one sigmoid, fitted on all of them, and fire at a fixed SVM margin below
zero: the SVM pushes negatives to -1, and an unseen positive of a rare label typically
lands between -0.6 and 0.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from model.thresholds import (
    best_fallback_floor,
    margin_cut_is_safe,
    parse_objective,
    tradeoff,
    tuned_thresholds,
)

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


def _fit_binary(X, y, C, class_weight, nb_power=0.0, balance=1.0):
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


def _fit_all(X, Y, folds, C, class_weight, nb_power, balance, n_jobs, rows=None):
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
        w, b = _fit_binary(X[train], Y[train, j], C, class_weight, nb_power, balance)
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


class CalibratedLinearHead(ClassifierMixin, BaseEstimator):
    """Linear SVM head with calibrated probabilities and, if multi-label, tuned thresholds.

    Parameters
    ----------
    multilabel : bool
        Fit an indicator matrix (several labels per sample) instead of one class each.
    C : float
        SVM regularisation; larger fits the training data more closely.
    class_weight : "balanced", dict or None
        Weight each binary problem by inverse class frequency ("balanced", raised to
        the power ``balance``).
    balance : float
        With ``class_weight="balanced"``, the power of the inverse class frequencies
        (see `class_weights`): 1 balances fully, 0 not at all.
    nb_power : float
        Scale each binary SVM's features by ``|NB log-count ratio| ** nb_power``
        (see `nb_ratios`); 0 turns the scaling off. The scale folds into ``coef_``.
    cv : int
        Folds used for the out-of-fold scores that calibration and thresholds learn from.
    tune_thresholds : bool
        Tune a threshold per label on out-of-fold probabilities (multi-label only);
        when False every label uses ``default_threshold``.
    threshold_range : tuple of float
        Bounds of the threshold search.
    min_positives : int
        Labels with fewer positives are rare: they share one sigmoid and fire at
        ``rare_margin`` instead of a tuned threshold.
    rare_margin : float
        SVM score (before calibration) at which a rare label fires. It is not used for
        a label where more than three negatives per positive reach it out of fold;
        such a label gets a tuned threshold like the others.
    default_threshold : float
        Threshold of labels that are not tuned.
    threshold_objective : str
        What the tuned thresholds aim for: ``f1`` (the default), ``precision:P`` (the
        most recall with out-of-fold precision at least P) or ``recall:R``.
    fallback : bool
        Multi-label only: when no label passes its threshold, still give the most
        probable one if its probability reaches ``fallback_floor_``, a floor tuned on
        out-of-fold probabilities for micro-F1. A short text scores lower than the long
        ones thresholds are tuned on, so its clear best label can miss every cut.
    null_label : str or None
        Single-label only: the class that means "nothing of the kind happened" (the
        agreement head's ``none``). Its logit gets an offset, ``null_bias_``, tuned on
        out-of-fold probabilities for accuracy (0 when no offset helps).
    two_stage : bool
        Single-label with ``null_label`` only: besides one SVM per class against all
        others, fit one per other class against the other non-null classes (trained
        without the null class's rows), and let the calibration weigh both. The first
        set says whether anything happened, the second which kind; calibration stays
        affine in the scores, so both still fold into one linear product.
    random_state : int
        Seed of the fold shuffling.
    n_jobs : int or None
        Parallel jobs (threads) across labels and folds.
    """

    # Heads pickled before these existed balanced fully, had no null class and one stage;
    # get_params and repr read these.
    balance = 1.0
    null_label = None
    two_stage = False

    # What each parameter takes, in scikit-learn's terms (the order within a range is
    # checked by training.train.parse_params, which validates --param against these).
    _parameter_constraints = {
        "multilabel": ["boolean"],
        "C": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "nb_power": [Interval(Real, 0, None, closed="left")],
        "balance": [Interval(Real, 0, 1, closed="both")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "tune_thresholds": ["boolean"],
        "threshold_range": [tuple, list],
        "min_positives": [Interval(Integral, 0, None, closed="left")],
        "rare_margin": [Interval(Real, None, None, closed="neither")],
        "default_threshold": [Interval(Real, 0, 1, closed="both")],
        "threshold_objective": [str],
        "fallback": ["boolean"],
        "null_label": [str, None],
        "two_stage": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, multilabel=False, C=0.5, class_weight="balanced", nb_power=0.0,
                 balance=1.0, cv=5, tune_thresholds=True, threshold_range=(0.1, 0.9),
                 min_positives=12, rare_margin=-0.5, default_threshold=0.5, threshold_objective="f1",
                 fallback=False, null_label=None, two_stage=False, random_state=0, n_jobs=None):
        self.multilabel = multilabel
        self.C = C
        self.class_weight = class_weight
        self.nb_power = nb_power
        self.balance = balance
        self.cv = cv
        self.tune_thresholds = tune_thresholds
        self.threshold_range = threshold_range
        self.min_positives = min_positives
        self.rare_margin = rare_margin
        self.default_threshold = default_threshold
        self.threshold_objective = threshold_objective
        self.fallback = fallback
        self.null_label = null_label
        self.two_stage = two_stage
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, groups=None):
        """Fit on a feature matrix and an indicator matrix (multi-label) or class vector.

        Rows that share a *groups* value (views of one article) always fall in the same
        fold, so no out-of-fold score is computed by a model that saw its article.
        """
        self.__dict__.pop("_coef_t", None)  # the transpose cached by decision_function
        X = sp.csr_matrix(X)
        if self.multilabel:
            Y = np.asarray(y, dtype=np.int8)
            self.classes_, codes = np.arange(Y.shape[1]), None
        else:
            self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(f"a single-label head needs two classes or more, got {self.classes_!r}")
            Y = np.eye(len(self.classes_), dtype=np.int8)[codes]
        folds = self._folds(X, codes, groups)
        rows = None
        null = self._null_index()
        if self.two_stage and null is not None:
            # Second stage: each non-null class against the other non-null classes only.
            others = [j for j in range(Y.shape[1]) if j != null]
            Y = np.hstack([Y, Y[:, others]])
            rows = np.ones(Y.shape, dtype=bool)
            rows[:, len(self.classes_):] = (codes != null)[:, None]
        oof, W, b = _fit_all(X, Y, folds, self.C, self.class_weight, self.nb_power, self.balance,
                             self.n_jobs, rows)
        if self.multilabel:
            informative = np.ones(Y.shape, dtype=bool)
            for train, test in folds:
                # A label constant in a fold's training part got a constant rule: no evidence.
                informative[np.ix_(test, Y[train].min(axis=0) == Y[train].max(axis=0))] = False
            self._fit_multilabel(Y, W, b, oof, informative)
        else:
            calib = LogisticRegression(C=1.0, max_iter=2000).fit(oof, codes)
            A, c = calib.coef_, calib.intercept_
            if len(self.classes_) == 2:
                # A binary model gives one logit z for class 1; softmax([-z/2, z/2]) is its sigmoid.
                A, c = np.vstack([-A / 2, A / 2]), np.concatenate([-c / 2, c / 2])
            self.coef_ = (A @ W).astype(np.float32)
            self.intercept_ = A @ b + c
            self.null_bias_ = 0.0
            if null is not None:
                self.null_bias_ = _best_null_bias(oof @ A.T + c, codes, null)
                self.intercept_[null] += self.null_bias_
        return self

    def _null_index(self):
        """The column of ``null_label`` among the classes, or None (multi-label, unset, absent)."""
        if self.multilabel or self.null_label is None:
            return None
        hits = np.flatnonzero(self.classes_ == self.null_label)
        return int(hits[0]) if len(hits) else None

    def _folds(self, X, codes, groups=None):
        n = X.shape[0] if groups is None else len(np.unique(groups))
        k = max(2, min(self.cv, n))
        seed = self.random_state
        if groups is None:
            splitter = KFold(k, shuffle=True, random_state=seed) if codes is None \
                else StratifiedKFold(k, shuffle=True, random_state=seed)
        else:
            splitter = GroupKFold(k, shuffle=True, random_state=seed) if codes is None \
                else StratifiedGroupKFold(k, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # A class rarer than k folds is legal: it is simply missing from some folds.
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            return list(splitter.split(X, codes, groups))

    def _fit_multilabel(self, Y, W, b, oof, informative):
        n_pos = Y.sum(axis=0)
        varies = (n_pos > 0) & (n_pos < len(Y))
        rare = varies & (n_pos < self.min_positives)
        a, c = np.ones(Y.shape[1]), np.zeros(Y.shape[1])
        for j in np.flatnonzero(varies & ~rare):
            a[j], c[j] = _platt(oof[informative[:, j], j], Y[informative[:, j], j])
        parse_objective(self.threshold_objective)  # fail before fitting, not after
        if rare.any():
            cells = informative[:, rare]
            a[rare], c[rare] = _platt(oof[:, rare][cells], Y[:, rare][cells])
        self.coef_ = (W * a[:, None].astype(np.float32)).astype(np.float32)
        self.intercept_ = a * b + c
        if not self.tune_thresholds:
            self.thresholds_ = np.full(Y.shape[1], float(self.default_threshold))
            self.fallback_floor_ = np.inf
            return
        oof_proba = _sigmoid(oof * a + c)
        # Cells without evidence are set to "certainly negative" so that no cut counts them.
        oof_proba[~informative] = 0.0
        evident = np.where(informative, Y, 0)
        low, high = self.threshold_range
        thresholds = tuned_thresholds(evident, oof_proba, low, high, 1, self.default_threshold,
                                      self.threshold_objective)
        self.tradeoff_ = _tradeoff_table(evident, oof_proba)
        for j in np.flatnonzero(rare):
            if margin_cut_is_safe(Y[informative[:, j], j], oof[informative[:, j], j],
                                  self.rare_margin):
                thresholds[j] = _sigmoid(a[j] * self.rare_margin + c[j])
        self.thresholds_ = thresholds
        self.fallback_floor_ = best_fallback_floor(evident, oof_proba, thresholds) \
            if self.fallback else np.inf

    def decision_function(self, X):
        """Calibrated logits, shape (n_samples, n_labels)."""
        check_is_fitted(self, "coef_")
        # A C-ordered (n_features, n_labels) copy: scipy would otherwise copy coef_.T on
        # every call (0.7 ms a call for the default model; 0.004 ms with the copy).
        coef_t = self.__dict__.get("_coef_t")
        if coef_t is None or coef_t.shape[::-1] != self.coef_.shape:
            coef_t = self._coef_t = np.ascontiguousarray(self.coef_.T)
        return np.asarray(X @ coef_t) + self.intercept_

    def predict_proba(self, X):
        """Probabilities: independent per label (multi-label) or summing to one."""
        z = self.decision_function(X)
        return _sigmoid(z) if self.multilabel else _softmax(z)

    def predict(self, X):
        """Indicator matrix (multi-label) or class labels."""
        p = self.predict_proba(X)
        if self.multilabel:
            return self.decide(p)
        return self.classes_[np.argmax(p, axis=1)]

    def decide(self, P, thresholds=None, limit=None):
        """Multi-label decisions for probabilities *P*: an int8 indicator matrix.

        A label is chosen when it reaches its threshold (*thresholds*, default the
        tuned ones); with the tuned thresholds, a row with none gets its best label if
        that reaches ``fallback_floor_`` (thresholds a caller chose are taken as they
        are); *limit* keeps at most that many, the most probable.
        """
        P = np.atleast_2d(P)
        cut = self.thresholds_ if thresholds is None else thresholds
        chosen = P >= cut
        floor = getattr(self, "fallback_floor_", np.inf) if thresholds is None else np.inf
        if np.isfinite(floor):
            best = np.argmax(P, axis=1)
            empty = ~chosen.any(axis=1) & (P[np.arange(len(P)), best] >= floor)
            chosen[np.flatnonzero(empty), best[empty]] = True
        if limit is not None and P.shape[1] > limit:
            ranked = np.argsort(-np.where(chosen, P, -1.0), axis=1, kind="stable")
            drop = np.zeros_like(chosen)
            np.put_along_axis(drop, ranked[:, limit:], True, axis=1)
            chosen &= ~drop
        return chosen.astype(np.int8)


NULL_BIASES = np.round(np.arange(-2.0, 2.01, 0.1), 2)


def _best_null_bias(logits, codes, null):
    """The offset of the null class's logit, from `NULL_BIASES`, with the best accuracy.

    Ties go to the offset nearest 0, so an offset is used only where it helps.
    """
    best, best_hits = 0.0, -1
    for bias in sorted(NULL_BIASES, key=abs):
        z = logits.copy()
        z[:, null] += bias
        hits = int(np.count_nonzero(np.argmax(z, axis=1) == codes))
        if hits > best_hits:
            best, best_hits = float(bias), hits
    return best


TRADEOFF_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


def _tradeoff_table(Y, P):
    """Out-of-fold precision and recall of every label at each cut of `TRADEOFF_GRID`."""
    curves = [tradeoff(Y[:, j], P[:, j], TRADEOFF_GRID) for j in range(Y.shape[1])]
    return {"grid": TRADEOFF_GRID.copy(),
            "precision": np.array([p for p, _ in curves]),
            "recall": np.array([r for _, r in curves])}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
