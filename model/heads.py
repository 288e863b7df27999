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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from model.linear import fit_all, platt
from model.thresholds import (
    best_fallback_floor,
    margin_cut_is_safe,
    parse_objective,
    tradeoff,
    tuned_thresholds,
)


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
        oof, W, b = fit_all(X, Y, folds, self.C, self.class_weight, self.nb_power, self.balance,
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
            a[j], c[j] = platt(oof[informative[:, j], j], Y[informative[:, j], j])
        parse_objective(self.threshold_objective)  # fail before fitting, not after
        if rare.any():
            cells = informative[:, rare]
            a[rare], c[rare] = platt(oof[:, rare][cells], Y[:, rare][cells])
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
