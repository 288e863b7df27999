import numpy as np
import pytest

from model.thresholds import best_f1_threshold, margin_cut_is_safe, tuned_thresholds


def f1(y, pred):
    tp = np.sum(y & pred)
    return 2 * tp / (y.sum() + pred.sum())


@pytest.mark.parametrize("y, s, expected", [
    ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 0.25),
    ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], 0.15),
    ([0, 0, 1], [0.95, 0.97, 0.99], 0.9),          # the best cut (0.98) is clipped to high
    ([1, 1, 0, 0], [0.05, 0.02, 0.01, 0.0], 0.1),  # and a cut below low is raised to it
])
def test_best_cut_is_found_and_bounded(y, s, expected):
    assert best_f1_threshold(y, s, low=0.1, high=0.9) == pytest.approx(expected)


def test_equal_scores_never_split():
    t = best_f1_threshold([1, 0, 1], [0.6, 0.6, 0.2])
    assert not (0.2 < 0.6 < t) and t <= 0.6


def test_tuned_cut_beats_default_on_shifted_scores():
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.3
    s = np.clip(np.where(y, 0.35, 0.1) + rng.normal(0, 0.05, 400), 0, 1)  # positives near 0.35
    t = best_f1_threshold(y, s)
    assert 0.15 < t < 0.35
    assert f1(y, s >= t) > 0.9 > f1(y, s >= 0.5)


def test_rare_labels_keep_the_default():
    Y = np.array([[1, 0], [0, 1], [0, 0], [1, 0], [1, 0]])
    P = np.array([[0.3, 0.2], [0.1, 0.3], [0.1, 0.1], [0.3, 0.2], [0.35, 0.1]])
    t = tuned_thresholds(Y, P, min_positives=3, default=0.5)
    assert t[1] == 0.5
    assert 0.1 <= t[0] <= 0.3


@pytest.mark.parametrize("y, s, safe", [
    ([1, 0, 0, 0], [-0.2, -0.9, -1.0, -0.7], True),               # negatives stay below
    ([1, 0, 0, 0, 0], [-0.2, -0.5, -0.4, -0.3, -1.0], True),      # three per positive: allowed
    ([1, 0, 0, 0, 0, 0], [-0.2, -0.5, -0.4, -0.3, -0.5, -1.0], False),  # four: refused
    ([0, 0, 0], [-0.5, -0.9, -1.0], True),                        # no positive counts as one
    ([1, 1, 0, 0, 0, 0, 0, 0], [0.1, -0.7, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5], True),
])
def test_margin_cut_is_refused_when_negatives_crowd_it(y, s, safe):
    assert margin_cut_is_safe(y, s, -0.6) is safe
