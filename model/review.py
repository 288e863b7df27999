"""What reviewers see and say: how unsure the model is, and the labels their corrections set.

Uncertainty of one document for one head, smaller meaning less sure:

* multi-label head: the smallest distance of any label's probability from that label's
  threshold, ``min_j |p_j - t_j|`` (a label on the fence makes the document unsure);
* single-label head: the margin between the two most probable labels, ``p_1 - p_2``.
"""

from __future__ import annotations

import numpy as np


def uncertainty(P, thresholds=None):
    """Per row of probabilities *P* (n, labels): the uncertainty defined above.

    *thresholds* (one per label) make it the multi-label measure; without them it is
    the single-label margin.

    Examples
    --------
    >>> uncertainty(np.array([[0.5, 0.9], [0.1, 0.95]]), np.array([0.4, 0.5])).round(2).tolist()
    [0.1, 0.3]
    >>> uncertainty(np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])).round(2).tolist()
    [0.2, 0.85]
    """
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    if thresholds is not None:
        return np.abs(P - np.asarray(thresholds, dtype=np.float64)).min(axis=1)
    if P.shape[1] < 2:
        return np.ones(len(P))
    top2 = -np.partition(-P, 1, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


def least_certain(u, allowed, limit):
    """Rows of *u* where *allowed* is true, least certain first, at most *limit* of them."""
    rows = np.flatnonzero(allowed)
    if len(rows) > limit:
        rows = rows[np.argpartition(u[rows], limit - 1)[:limit]]
    return rows[np.argsort(u[rows], kind="stable")]


def reviewed_labels(corrections):
    """Fold corrections (oldest first) into id -> head -> the latest review of that head.

    Each review is ``{"labels", "reviewer", "at", "model_version", "note"}``; a later
    correction of a head replaces an earlier one, and heads it leaves out keep theirs.
    """
    out: dict[str, dict[str, dict]] = {}
    for c in corrections:
        heads = out.setdefault(c["id"], {})
        for head, labels in c["labels"].items():
            heads[head] = {"labels": labels, "reviewer": c["reviewer"], "at": c["created_at"],
                           "model_version": c["model_version"], "note": c["note"]}
    return out
