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


def review_queue(searcher, view, spec, limit=20):
    """Unreviewed visible documents of one head, least certain first: ``(entries, unreviewed, reviewed)``.

    Corpus rows use the scores stored with the version, in one vectorised pass;
    added documents the scores stored when they were added (kept with the snapshot
    *view*, a `model.visible.Visible`), and ``scored_by`` says which model version
    computed each entry's scores. Everything derived from the snapshot is cached on
    it, so a second call on the same snapshot costs little.
    """
    model, head = searcher.model, spec.name
    tagger = model.tagger
    labels = tagger.labels_of(spec)
    thresholds = tagger.heads[head].thresholds_ if spec.multilabel else None
    candidates = []  # (uncertainty, where, row or id, probabilities, scored_by)
    corpus_scores = model.scores.get(head)
    n_unreviewed = 0
    if corpus_scores is not None:
        u = searcher.corpus_uncertainty.get(head)
        if u is None:  # the corpus' stored scores never change: once per searcher and head
            u = searcher.corpus_uncertainty[head] = uncertainty(corpus_scores, thresholds)
        visible = view.visible if view.visible is not None else np.ones(len(view.hidden), bool)
        n_unreviewed += int(visible.sum())
        for row in least_certain(u, visible, limit):
            candidates.append((float(u[row]), "corpus", int(row), corpus_scores[row], model.version))
    live = view.cache.get(("queue", head))
    if live is None:
        live = view.cache[("queue", head)] = _live_candidates(view, model, head, labels,
                                                             corpus_scores, thresholds)
    ids, P, versions, u_live, n_live = live
    n_unreviewed += n_live
    for j in least_certain(u_live, np.ones(len(ids), dtype=bool), limit):
        candidates.append((float(u_live[j]), "live", ids[j], P[j], versions[j]))
    candidates.sort(key=lambda c: (c[0], str(c[2])))
    n_reviewed = sum(head in r for r in view.reviews.values())
    entries = []
    for u_, where, key, p, version in candidates[:limit]:
        meta = model.corpus[key] if where == "corpus" else view.live[key]
        scores = {label: round(float(x), 6) for label, x in zip(labels, p, strict=True)}
        if spec.multilabel:
            chosen = np.flatnonzero(tagger.heads[head].decide(np.asarray(p)[None, :])[0])
            answer = [labels[j] for j in sorted(chosen, key=lambda j: -p[j])]
        else:
            answer = labels[int(np.argmax(p))]
        entries.append({"id": meta["id"], "title": meta.get("title", ""),
                        "source": meta.get("source", "corpus"),
                        "labels": {h: meta.get(h) for h in searcher.heads},
                        "answer": answer, "scores": scores,
                        "uncertainty": round(u_, 6), "scored_by": version})
    return entries, n_unreviewed, n_reviewed


def _live_candidates(view, model, head, labels, corpus_scores, thresholds):
    """The live documents not reviewed for *head*: ids, probabilities, versions, uncertainty, count."""
    ids, rows, versions, n = [], [], [], 0
    for doc_id, doc in view.live.items():
        if head in view.reviews.get(doc_id, {}):
            continue
        n += 1
        if doc["source"] == "corpus":  # reviewed for another head only
            if corpus_scores is None:
                continue
            ids.append(doc_id)
            rows.append(corpus_scores[doc["row"]])
            versions.append(model.version)
            continue
        stored = view.scores.get(doc_id)
        if stored is None or head not in stored[1]:
            continue
        ids.append(doc_id)
        rows.append([stored[1][head].get(label, 0.0) for label in labels])
        versions.append(stored[0])
    P = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(labels))
    u = uncertainty(P, thresholds) if len(P) else np.zeros(0)
    return ids, P, versions, u, n
