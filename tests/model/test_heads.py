import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from model.heads import CalibratedLinearHead, _fit_binary


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
