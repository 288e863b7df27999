import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.svm import LinearSVC

from model.heads import CalibratedLinearHead
from model.linear import class_weights, nb_ratios
from model.linear import fit_binary as _fit_binary


def synthetic(n=300, n_labels=3, seed=0, shift=-1.5, noise=0.3):
    """Sparse data where each label depends on its own features; positives are rare-ish."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, 60, density=0.15, random_state=seed, format="csr", dtype=np.float64)
    W = np.zeros((60, n_labels))
    for j in range(n_labels):
        W[j * 10:(j + 1) * 10, j] = 3.0
    logits = X @ W + shift + rng.normal(0, noise, (n, n_labels))
    return X, (logits > 0).astype(np.int8)


def test_multilabel_probabilities_and_thresholds():
    X, Y = synthetic()
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    P = head.predict_proba(X)
    assert P.shape == Y.shape and np.all((P >= 0) & (P <= 1))
    assert head.thresholds_.shape == (3,)
    assert np.all((head.thresholds_ >= 0.1) & (head.thresholds_ <= 0.9))
    np.testing.assert_array_equal(head.predict(X), (P >= head.thresholds_).astype(np.int8))


def test_multiclass_probabilities_sum_to_one_and_predict_argmax():
    X, Y = synthetic()
    y = np.array(["a", "b", "c"])[np.argmax(Y + 0.01 * np.arange(3), axis=1)]
    head = CalibratedLinearHead().fit(X, y)
    P = head.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    assert list(head.classes_) == ["a", "b", "c"]
    np.testing.assert_array_equal(head.predict(X), head.classes_[P.argmax(axis=1)])
    assert (head.predict(X) == y).mean() > 0.8


def test_constant_label_is_handled():
    X, Y = synthetic()
    Y[:, 1] = 0
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    assert head.predict_proba(X)[:, 1].max() < 1e-6


def test_single_class_is_refused():
    X, _ = synthetic(n=20)
    with pytest.raises(ValueError, match="two classes"):
        CalibratedLinearHead().fit(X, ["a"] * 20)


def test_pickle_round_trip_predicts_the_same():
    X, Y = synthetic()
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    again = pickle.loads(pickle.dumps(head))
    np.testing.assert_array_equal(again.predict_proba(X), head.predict_proba(X))


def test_threshold_tuning_improves_f1_on_rare_noisy_labels():
    # Weak signal: F1-optimal cuts on calibrated probabilities sit well below 0.5.
    X, Y = synthetic(n=800, shift=-3.5, noise=1.5, seed=1)
    Xt, Yt = synthetic(n=2000, shift=-3.5, noise=1.5, seed=2)
    tuned = CalibratedLinearHead(multilabel=True).fit(X, Y)
    fixed = CalibratedLinearHead(multilabel=True, tune_thresholds=False).fit(X, Y)

    def micro_f1(P):
        return 2 * np.sum(P & Yt) / (P.sum() + Yt.sum())

    assert np.all(tuned.thresholds_ < 0.45)
    assert np.all(fixed.thresholds_ == 0.5)
    assert micro_f1(tuned.predict(Xt)) > micro_f1(fixed.predict(Xt)) + 0.01


def test_class_weighting_raises_svm_recall_of_a_rare_label():
    X, Y = synthetic(n=800, shift=-3.5, noise=1.5, seed=1)
    Xt, Yt = synthetic(n=2000, shift=-3.5, noise=1.5, seed=2)

    def recall(class_weight):
        w, b = _fit_binary(X, Y[:, 0], 0.5, class_weight)
        return np.sum((Xt @ w + b > 0) & (Yt[:, 0] == 1)) / Yt[:, 0].sum()

    assert recall("balanced") > recall(None) + 0.1


def test_partial_balance_weighs_classes_between_none_and_balanced():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([1] * 5 + [0] * 95)
    full = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    assert class_weights(y, "balanced", 1.0) == "balanced"
    half = class_weights(y, "balanced", 0.5)
    np.testing.assert_allclose([half[0], half[1]], np.sqrt(full))
    assert class_weights(y, "balanced", 0.0) == {0: 1.0, 1: 1.0}
    assert class_weights(y, None, 0.5) is None

    X, Y = synthetic(n=800, shift=-3.5, noise=1.5, seed=1)
    Xt, Yt = synthetic(n=2000, shift=-3.5, noise=1.5, seed=2)

    def recall(balance):
        w, b = _fit_binary(X, Y[:, 0], 0.5, "balanced", balance=balance)
        return np.sum((Xt @ w + b > 0) & (Yt[:, 0] == 1)) / Yt[:, 0].sum()

    assert recall(0.0) < recall(0.5) < recall(1.0)


def topics(n, rates, seed, vocab=600, words=20):
    """L2-normalised bags of words: background noise plus each label's own topic words."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, len(rates))) < rates).astype(np.int8)
    counts = rng.poisson(0.05, (n, vocab)).astype(float)
    for j in range(len(rates)):
        counts[:, j * words:(j + 1) * words] += Y[:, [j]] * rng.poisson(0.3, (n, words))
    X = sp.csr_matrix(np.log1p(counts))
    return sp.diags(1 / np.maximum(sp.linalg.norm(X, axis=1), 1e-12)) @ X, Y


def macro_f1(Y, P):
    return np.mean([2 * np.sum(Y[:, j] & P[:, j]) / max(Y[:, j].sum() + P[:, j].sum(), 1)
                    for j in range(Y.shape[1])])


def test_rare_labels_fire_at_the_margin_and_gain_macro_f1():
    # Sixteen topics with 0-13 training examples each: too few to tune a cut on.
    X, Y = topics(1000, [0.3, 0.2] + [0.005] * 16, seed=0)
    Xt, Yt = topics(2000, [0.3, 0.2] + [0.03] * 16, seed=100)
    rare = slice(2, None)

    def rare_macro(**params):
        head = CalibratedLinearHead(multilabel=True, rare_margin=-0.6, **params).fit(X, Y)
        return macro_f1(Yt[:, rare], head.predict(Xt)[:, rare])

    with_margin = rare_macro()
    assert with_margin > rare_macro(min_positives=0) + 0.05   # every label tuned on its own
    assert with_margin > rare_macro(tune_thresholds=False) + 0.15
    assert CalibratedLinearHead().min_positives == 12          # rare labels are the default


def test_rare_labels_share_one_calibration_and_one_cut():
    X, Y = topics(1000, [0.3, 0.2] + [0.005] * 4, seed=0)
    head = CalibratedLinearHead(multilabel=True, rare_margin=-0.6).fit(X, Y)
    rare = head.thresholds_[2:]
    np.testing.assert_allclose(rare, rare[0])
    assert rare[0] < 0.5
    # The shared cut is the margin seen through the shared sigmoid: a rare label fires
    # exactly where its uncalibrated SVM score reaches -0.6.
    z = head.decision_function(X)[:, 2:]
    fires = head.predict(X)[:, 2:] == 1
    assert np.all(z[fires] >= np.log(rare[0] / (1 - rare[0])) - 1e-6)


def test_rare_subset_of_a_broad_topic_does_not_flood():
    # Five examples picked from a topic 30% of documents share: nothing sets them apart,
    # so neither the margin nor an inverted calibration may fire on the whole topic.
    X, Y = topics(1000, [0.3, 0.2], seed=0)
    Xt, Yt = topics(2000, [0.3, 0.2], seed=100)
    picked = np.zeros((len(Y), 1), dtype=np.int8)
    picked[np.random.default_rng(0).choice(np.flatnonzero(Y[:, 0]), 5, replace=False)] = 1
    head = CalibratedLinearHead(multilabel=True).fit(X, np.hstack([Y, picked]))
    assert head.predict(Xt)[:, 2].sum() < 0.1 * Yt[:, 0].sum()
    z = np.asarray(Xt @ head.coef_[2]).ravel()
    p = head.predict_proba(Xt)[:, 2]
    assert np.all(np.diff(p[np.argsort(z)]) >= -1e-12)   # probability rises with the score


def test_single_example_label_is_not_inverted():
    X, Y = topics(1000, [0.3, 0.2, 0.001], seed=3)
    Y[:, 2] = 0
    Y[0, 2] = 1
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    p = head.predict_proba(X)[:, 2]
    assert p[0] == p.max()


def test_nb_scaling_folds_into_the_coefficients():
    X, Y = synthetic(n=400)
    scale = nb_ratios(X, Y[:, 0], 1.0)
    assert scale.shape == (X.shape[1],) and np.all(scale >= 0)
    w, b = _fit_binary(X, Y[:, 0], 0.5, "balanced", nb_power=1.0)
    svm = LinearSVC(C=0.5, class_weight="balanced", tol=1e-3, max_iter=20_000, random_state=0)
    svm.fit(X @ sp.diags(scale), Y[:, 0])
    np.testing.assert_allclose(X @ w + b, svm.decision_function(X @ sp.diags(scale)),
                               rtol=1e-4, atol=1e-4)
    head = CalibratedLinearHead(multilabel=True, nb_power=1.0).fit(X, Y)
    assert head.coef_.dtype == np.float32 and head.coef_.shape == (3, X.shape[1])


def test_nb_scaling_helps_when_few_features_matter():
    # 2,000 noise features and 20 topic words per class: the log-count ratios find them.
    rng = np.random.default_rng(0)
    X, Y = topics(600, [0.34, 0.33, 0.33], seed=5, vocab=2000, words=20)
    y = np.array(["a", "b", "c"])[np.argmax(Y + 0.01 * rng.random(Y.shape), axis=1)]
    Xt, Yt = topics(2000, [0.34, 0.33, 0.33], seed=6, vocab=2000, words=20)
    yt = np.array(["a", "b", "c"])[np.argmax(Yt + 0.01 * rng.random(Yt.shape), axis=1)]
    plain = (CalibratedLinearHead().fit(X, y).predict(Xt) == yt).mean()
    scaled = (CalibratedLinearHead(nb_power=1.0).fit(X, y).predict(Xt) == yt).mean()
    assert scaled > plain + 0.01


def test_two_class_single_label_head_predicts_both_classes():
    X, Y = synthetic()
    y = np.where(Y[:, 0] == 1, "yes", "no")
    head = CalibratedLinearHead().fit(X, y)
    P = head.predict_proba(X)
    assert P.shape == (len(y), 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    assert (head.predict(X) == y).mean() > 0.8


def test_refitting_replaces_the_cached_weights():
    X, Y = synthetic()
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    head.predict_proba(X)
    fresh = CalibratedLinearHead(multilabel=True).fit(X, 1 - Y)
    np.testing.assert_allclose(head.fit(X, 1 - Y).predict_proba(X), fresh.predict_proba(X))


def test_a_head_pickled_before_balance_existed_still_describes_itself():
    X, Y = synthetic()
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    del head.__dict__["balance"]  # as unpickled from a version before the parameter
    again = pickle.loads(pickle.dumps(head))
    assert again.get_params()["balance"] == 1.0 and "CalibratedLinearHead" in repr(again)
    np.testing.assert_array_equal(again.predict(X), head.predict(X))


def _with_null(seed=0):
    """Three classes where 'none' is the class of rows with no strong evidence of a or b."""
    X, Y = synthetic(n=400, n_labels=2, seed=seed, shift=-1.0)
    y = np.where(Y[:, 0] == 1, "a", np.where(Y[:, 1] == 1, "b", "none"))
    return X, y


def test_null_bias_is_tuned_for_accuracy_and_zero_when_it_does_not_help():
    from model.heads import _best_null_bias

    codes = np.array([0, 0, 1, 1])
    logits = np.array([[0.0, 0.55], [0.0, 0.75], [0.0, 1.0], [0.0, 2.0]])  # column 0 is null
    assert _best_null_bias(logits, codes, 0) == pytest.approx(0.8)  # lifts both nulls, no more
    assert _best_null_bias(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), 0) == 0.0
    X, y = _with_null()
    head = CalibratedLinearHead(null_label="none").fit(X, y)
    plain = CalibratedLinearHead().fit(X, y)
    null = list(head.classes_).index("none")
    np.testing.assert_allclose(head.intercept_[null] - plain.intercept_[null], head.null_bias_)
    assert CalibratedLinearHead(null_label="missing").fit(X, y).null_bias_ == 0.0


def test_two_stage_head_folds_into_one_linear_product():
    X, y = _with_null(seed=1)
    head = CalibratedLinearHead(null_label="none", two_stage=True).fit(X, y)
    assert head.coef_.shape == (3, X.shape[1])
    P = head.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    z = X @ head.coef_.T + head.intercept_
    np.testing.assert_allclose(head.decision_function(X), z, rtol=1e-5, atol=1e-5)
    assert (head.predict(X) == y).mean() > 0.8
    # The second stage learns without the null rows: it changes the fit.
    one = CalibratedLinearHead(null_label="none").fit(X, y)
    assert not np.allclose(one.coef_, head.coef_)
