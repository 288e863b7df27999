"""Decision rules for real copy: short views, the fallback floor, per-request cuts, objectives."""

import numpy as np
import pytest

from model.heads import TRADEOFF_GRID, CalibratedLinearHead
from model.tagger import HeadSpec, Tagger
from model.thresholds import best_fallback_floor, objective_threshold, parse_objective, tradeoff
from model.views import lead, short_views
from tests.model.test_heads import synthetic


def test_short_views_only_for_texts_much_longer_than_the_view():
    texts = ["word " * 30, "Acme buys Beta. " * 40, "x"]
    views = short_views(texts, (20,))
    assert [row for row, _ in views] == [1]
    assert len(views[0][1].split()) <= 20 and views[0][1].endswith(".")


def test_lead_cuts_at_a_sentence_end_within_the_limit():
    text = "Alpha Corp said it agreed to buy Beta Inc. The price was 12 mln dlrs. More follows here."
    assert lead(text, 15) == "Alpha Corp said it agreed to buy Beta Inc. The price was 12 mln dlrs."
    assert lead(text, 100) == text


def test_views_of_one_article_never_straddle_a_fold():
    X, Y = synthetic(n=120)
    groups = np.repeat(np.arange(40), 3)
    head = CalibratedLinearHead(multilabel=True, cv=4)
    for train, test in head._folds(X, None, groups):
        assert not set(groups[train]) & set(groups[test])
    y = np.array(["a", "b"])[Y[:, 0]]
    for train, test in CalibratedLinearHead(cv=4)._folds(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_tagger_fits_heads_on_articles_and_their_leads(monkeypatch):
    long_text = " ".join(f"Sentence {i} about solar panels and the grid." for i in range(40))
    texts = [long_text, "bank loan " * 5, long_text.replace("solar", "bank"), "solar " * 6] * 5
    targets = {"sectors": [["clean_energy"], ["fintech"], ["fintech"], ["clean_energy"]] * 5}
    seen = {}
    original = CalibratedLinearHead.fit

    def spy(self, X, y, groups=None):
        seen["rows"], seen["groups"] = X.shape[0], groups
        return original(self, X, y, groups)

    monkeypatch.setattr(CalibratedLinearHead, "fit", spy)
    spec = [HeadSpec("sectors", True, ("clean_energy", "fintech"))]
    from model.features import TextFeatures
    Tagger(TextFeatures(min_df=1), spec, {"cv": 2}, view_words=(20,)).fit(texts, targets)
    assert seen["rows"] == 20 + 10  # ten long articles, one lead each
    assert sorted(np.unique(seen["groups"])) == list(range(20))
    Tagger(TextFeatures(min_df=1), spec, {"cv": 2}).fit(texts, targets)
    assert seen["rows"] == 20 and seen["groups"] is None


def test_fallback_floor_is_tuned_for_micro_f1():
    Y = np.array([[1, 0], [0, 1], [0, 0], [1, 0], [0, 0]])
    P = np.array([[0.9, 0.1], [0.2, 0.3], [0.1, 0.15], [0.35, 0.1], [0.05, 0.06]])
    assert best_fallback_floor(Y, P, [0.5, 0.5]) == pytest.approx(0.3)
    # When the rows with nothing over the cut should stay empty, no floor helps.
    assert best_fallback_floor([[1, 0], [0, 0]], [[0.9, 0.1], [0.3, 0.1]], [0.5, 0.5]) == np.inf


def test_decide_applies_fallback_thresholds_and_limit():
    X, Y = synthetic()
    head = CalibratedLinearHead(multilabel=True, fallback=True).fit(X, Y)
    head.thresholds_ = np.array([0.9, 0.9, 0.9])
    head.fallback_floor_ = 0.3
    P = np.array([[0.5, 0.2, 0.1], [0.2, 0.25, 0.1], [0.95, 0.92, 0.91]])
    np.testing.assert_array_equal(head.decide(P), [[1, 0, 0], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(head.decide(P, limit=2), [[1, 0, 0], [0, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(head.decide(P, thresholds=np.array([0.15, 0.15, 0.15])),
                                  [[1, 1, 0], [1, 1, 0], [1, 1, 1]])


def test_fallback_off_gives_no_floor():
    X, Y = synthetic()
    head = CalibratedLinearHead(multilabel=True).fit(X, Y)
    assert head.fallback_floor_ == np.inf
    np.testing.assert_array_equal(head.predict(X),
                                  (head.predict_proba(X) >= head.thresholds_).astype(np.int8))


@pytest.mark.parametrize("objective", ["precision:0.9", "recall:0.95"])
def test_threshold_objectives_meet_their_target_out_of_fold(objective):
    kind, target = parse_objective(objective)
    X, Y = synthetic(n=600, noise=0.8)
    head = CalibratedLinearHead(multilabel=True, threshold_objective=objective).fit(X, Y)
    f1 = CalibratedLinearHead(multilabel=True).fit(X, Y)
    table = head.tradeoff_
    for j in range(Y.shape[1]):
        k = int(np.argmin(np.abs(table["grid"] - head.thresholds_[j])))
        cut = head.thresholds_[j]
        # The chosen cut meets the target on the out-of-fold curve near it...
        value = table[kind][j, max(k - 1, 0) if kind == "precision" else min(k + 1, len(TRADEOFF_GRID) - 1)]
        assert value >= target - 0.1, (j, cut, value)
    # ...and is not the F1 cut.
    assert not np.allclose(head.thresholds_, f1.thresholds_)


def test_objective_threshold_edges():
    y, s = [0, 1, 0, 1, 1], [0.2, 0.3, 0.4, 0.6, 0.8]
    assert objective_threshold(y, s, "precision:1.0") == pytest.approx(0.5)
    assert objective_threshold(y, s, "recall:1.0") == pytest.approx(0.25)
    assert objective_threshold(y, s, "recall:0.3") == pytest.approx(0.7)
    assert objective_threshold(y, s, "f1") == pytest.approx(0.25)


@pytest.mark.parametrize("bad", ["f2", "precision", "precision:0", "recall:1.5", "recall:abc", ""])
def test_bad_objectives_are_refused(bad):
    with pytest.raises(ValueError, match="threshold objective"):
        parse_objective(bad)
    X, Y = synthetic(n=60)
    with pytest.raises(ValueError, match="threshold objective"):
        CalibratedLinearHead(multilabel=True, threshold_objective=bad).fit(X, Y)


def test_tradeoff_counts_precision_and_recall():
    p, r = tradeoff([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], [0.05, 0.5, 0.95])
    np.testing.assert_allclose(p, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(r, [1.0, 0.5, 0.0])
