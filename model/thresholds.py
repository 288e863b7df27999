"""Per-label decision thresholds tuned on out-of-fold probabilities."""

from __future__ import annotations

import numpy as np


def best_f1_threshold(y_true, scores, low=0.1, high=0.9, default=0.5):
    """Return the cut in [low, high] that maximises F1 of ``scores >= cut`` against *y_true*.

    Cuts are placed half-way between consecutive distinct scores, so the chosen one
    separates the training scores with the widest margin the data allows. Ties in F1 go
    to the cut nearest *default*.

    Examples
    --------
    >>> round(best_f1_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]), 2)
    0.25
    """
    counted = _cut_counts(y_true, scores, low, high)
    if counted is None:
        return float(default)
    cuts, tp, predicted, n_pos = counted
    f1 = 2 * tp / (predicted + n_pos)
    winners = cuts[np.isclose(f1, f1.max())]
    return float(winners[np.argmin(np.abs(winners - default))])


def _cut_counts(y_true, scores, low, high):
    """Candidate cuts in [low, high] with the true positives and predictions of each.

    Cuts lie half-way between consecutive distinct scores (and one below them all),
    clipped to the range. None when *y_true* has no positive.
    """
    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(y_true.sum())
    if n_pos == 0:
        return None
    distinct = np.unique(scores)
    cuts = np.clip(np.append((distinct[1:] + distinct[:-1]) / 2, distinct[0] - 1.0), low, high)
    # Clipping moves cuts, so count what each clipped cut really lets through.
    order = np.argsort(scores, kind="stable")
    ascending, pos_before = scores[order], np.concatenate([[0], np.cumsum(y_true[order])])
    first = np.searchsorted(ascending, cuts, side="left")
    return cuts, n_pos - pos_before[first], len(scores) - first, n_pos


def parse_objective(objective: str) -> tuple[str, float | None]:
    """``"f1"``, ``"precision:0.9"`` or ``"recall:0.8"`` as (kind, target).

    Raises ValueError with a message that says what is accepted.

    Examples
    --------
    >>> parse_objective("precision:0.9")
    ('precision', 0.9)
    >>> parse_objective("f1")
    ('f1', None)
    """
    kind, sep, raw = str(objective).strip().partition(":")
    if kind == "f1" and not sep:
        return "f1", None
    if kind in ("precision", "recall") and sep:
        try:
            target = float(raw)
        except ValueError:
            target = float("nan")
        if 0.0 < target <= 1.0:
            return kind, target
    raise ValueError(f"threshold objective must be f1, precision:P or recall:R with 0 < P, R <= 1; "
                     f"got {objective!r}")


def objective_threshold(y_true, scores, objective="f1", low=0.1, high=0.9, default=0.5):
    """The cut in [low, high] that best meets *objective* (see `parse_objective`).

    ``f1`` maximises F1; ``precision:P`` takes the lowest cut whose precision reaches P
    (the most recall at that precision), or the highest cut if none does;
    ``recall:R`` takes the highest cut whose recall reaches R (the most precision at
    that recall), or the lowest cut if none does.

    Examples
    --------
    >>> y, s = [0, 1, 0, 1, 1], [0.2, 0.3, 0.4, 0.6, 0.8]
    >>> round(objective_threshold(y, s, "precision:1.0"), 2)
    0.5
    >>> round(objective_threshold(y, s, "recall:1.0"), 2)
    0.25
    """
    kind, target = parse_objective(objective)
    if kind == "f1":
        return best_f1_threshold(y_true, scores, low, high, default)
    counted = _cut_counts(y_true, scores, low, high)
    if counted is None:
        return float(default)
    cuts, tp, predicted, n_pos = counted
    precision = tp / np.maximum(predicted, 1)
    recall = tp / n_pos
    if kind == "precision":
        ok = precision >= target
        return float(cuts[ok].min() if ok.any() else cuts.max())
    ok = recall >= target
    return float(cuts[ok].max() if ok.any() else cuts.min())


def tradeoff(y_true, scores, grid):
    """Precision and recall of ``scores >= t`` for each t in *grid* (two arrays).

    Precision is 1 where nothing passes, the usual convention of a precision-recall curve.
    """
    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    passed = scores[None, :] >= np.asarray(grid)[:, None]
    tp = (passed & y_true).sum(axis=1)
    n = passed.sum(axis=1)
    precision = np.where(n > 0, tp / np.maximum(n, 1), 1.0)
    recall = tp / max(int(y_true.sum()), 1)
    return precision, recall


def tuned_thresholds(Y, P, low=0.1, high=0.9, min_positives=3, default=0.5, objective="f1"):
    """Tune one threshold per column of the indicator matrix *Y* from probabilities *P*.

    Labels with fewer than *min_positives* positive examples keep *default*: a cut tuned
    on one or two examples would only memorise them.

    Parameters
    ----------
    Y : array of shape (n_samples, n_labels)
        Binary indicator of the true labels.
    P : array of shape (n_samples, n_labels)
        Out-of-fold probabilities for the same samples.
    low, high : float
        Bounds of the threshold search.
    min_positives : int
        Fewest positives a label needs before its threshold is tuned.
    default : float
        Threshold for labels too rare to tune.
    objective : str
        What each cut aims for: ``f1``, ``precision:P`` or ``recall:R``
        (see `objective_threshold`).

    Returns
    -------
    ndarray of shape (n_labels,)
    """
    Y = np.asarray(Y)
    P = np.asarray(P)
    out = np.full(Y.shape[1], float(default))
    for j in range(Y.shape[1]):
        if Y[:, j].sum() >= min_positives:
            out[j] = objective_threshold(Y[:, j], P[:, j], objective, low, high, default)
    return out


def margin_cut_is_safe(y_true, scores, margin, max_false_per_positive=3):
    """Whether a fixed cut at *margin* keeps out-of-fold false positives few.

    A rare label fires at a fixed SVM margin because its handful of positives cannot
    tune a cut. The fixed cut is refused when more than *max_false_per_positive*
    negatives per positive reach it: the label's negatives then crowd the margin (a
    broad topic with few examples), and a tuned cut does better.

    Examples
    --------
    >>> margin_cut_is_safe([1, 0, 0, 0], [-0.2, -0.9, -1.0, -0.7], -0.6)
    True
    >>> margin_cut_is_safe([1, 0, 0, 0, 0, 0], [-0.2, -0.5, -0.4, -0.3, -0.5, -1.0], -0.6)
    False
    """
    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    false = int(np.sum((scores >= margin) & ~y_true))
    return false <= max_false_per_positive * max(int(y_true.sum()), 1)


def best_fallback_floor(Y, P, thresholds, low=0.05):
    """The floor at which a row with no label over its threshold still gets its best one.

    Chosen among the best probabilities of such rows (and never below *low*) to
    maximise micro-F1 of the whole decision; ``inf`` when giving the best label never
    helps. Ties go to the higher floor, which adds fewer labels.

    Examples
    --------
    >>> Y = [[1, 0], [0, 1], [0, 0], [1, 0]]
    >>> P = [[0.9, 0.1], [0.2, 0.3], [0.1, 0.15], [0.35, 0.1]]
    >>> best_fallback_floor(Y, P, [0.5, 0.5])
    0.3
    """
    Y = np.asarray(Y, dtype=bool)
    P = np.asarray(P, dtype=np.float64)
    chosen = P >= np.asarray(thresholds)
    tp, n_pred, n_true = int((chosen & Y).sum()), int(chosen.sum()), int(Y.sum())
    empty = np.flatnonzero(~chosen.any(axis=1))
    best = np.argmax(P[empty], axis=1)
    top = P[empty, best]
    hit = Y[empty, best]
    order = np.argsort(-top, kind="stable")
    top, hit = top[order], hit[order]
    # Lowering the floor to top[i] adds the best label of rows 0..i.
    gains = np.cumsum(hit)
    added = np.arange(1, len(top) + 1)
    f1 = 2 * (tp + gains) / np.maximum(n_pred + added + n_true, 1)
    base = 2 * tp / max(n_pred + n_true, 1)
    ok = top >= low
    if not ok.any() or f1[ok].max() <= base:
        return float("inf")
    i = int(np.argmax(np.where(ok, f1, -1.0)))
    return float(top[i])
