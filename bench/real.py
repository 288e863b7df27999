"""Tagging quality on real copy: the default model on labelled stories nobody here wrote.

Trains the default pipeline (`make train`'s settings) on the corpus, then scores a set
of real, hand-labelled wire stories: agreement-type accuracy and F1, sector micro- and
macro-F1, per-label precision/recall/F1, the agreement-type confusion matrix and the
worst errors with their scores. In the same run, the textbook pipeline —
TfidfVectorizer() with LinearSVC() (one-vs-rest for sectors) at default settings — is
trained on the same corpus and scored on the same stories.

The real stories are read where they are and never trained on.

    python bench/real.py [--data data/articles.jsonl.gz]
                         [--dev ../shared/datasets/real_deals_dev.jsonl] [--errors 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.datasets import load_dataset  # noqa: E402
from training.evaluate import score_head  # noqa: E402
from training.train import make_tagger  # noqa: E402

HEADS = ("agreement_type", "sectors")


def tagsim_scores(corpus, dev):
    """Fit the default pipeline on *corpus*; per head, predictions and probabilities on *dev*."""
    started = time.perf_counter()
    tagger = make_tagger(corpus.specs).fit(corpus.texts, corpus.targets)
    seconds = time.perf_counter() - started
    X = tagger.features.transform(dev.texts)
    predicted = tagger.predict_labels(X)
    proba = {spec.name: (tagger.labels_of(spec), tagger.heads[spec.name].predict_proba(X))
             for spec in tagger.specs}
    return predicted, proba, seconds


def baseline_scores(corpus, dev):
    """The textbook pipeline at default settings, fitted on *corpus*, predicting *dev*."""
    started = time.perf_counter()
    vectorizer = TfidfVectorizer().fit(corpus.texts)
    X, Xd = vectorizer.transform(corpus.texts), vectorizer.transform(dev.texts)
    predicted = {}
    for spec in corpus.specs:
        if spec.multilabel:
            Y = np.array([[label in row for label in spec.labels]
                          for row in corpus.targets[spec.name]], dtype=int)
            model = OneVsRestClassifier(LinearSVC()).fit(X, Y)
            predicted[spec.name] = [[spec.labels[j] for j in np.flatnonzero(row)]
                                    for row in model.predict(Xd)]
        else:
            model = LinearSVC().fit(X, corpus.targets[spec.name])
            predicted[spec.name] = [str(c) for c in model.predict(Xd)]
    return predicted, time.perf_counter() - started


def score(dev, predicted):
    return {spec.name: score_head(spec.name, spec.multilabel, dev.targets[spec.name],
                                  predicted[spec.name], spec.labels) for spec in dev.specs}


def worst_errors(dev, predicted, proba, n):
    """The *n* records whose wrong decisions carry the most probability, worst first.

    A record's error weight is the probability of a wrongly chosen agreement type minus
    that of the true one, plus, per sector decided wrongly, how far its probability sits
    on the wrong side of one half.
    """
    rows = []
    for i in range(len(dev)):
        weight = 0.0
        labels, p = proba["agreement_type"]
        true, pred = dev.targets["agreement_type"][i], predicted["agreement_type"][i]
        if pred != true:
            weight += p[i, labels.index(pred)] - p[i, labels.index(true)]
        labels_s, ps = proba["sectors"]
        truth, chosen = set(dev.targets["sectors"][i]), set(predicted["sectors"][i])
        for j, label in enumerate(labels_s):
            if (label in truth) != (label in chosen):
                weight += abs(ps[i, j] - 0.5) if label in chosen else 0.5 + (0.5 - ps[i, j])
        if weight > 0:
            rows.append((weight, i))
    rows.sort(reverse=True)
    out = []
    for weight, i in rows[:n]:
        labels, p = proba["agreement_type"]
        labels_s, ps = proba["sectors"]
        out.append({
            "id": dev.ids[i], "title": dev.titles[i] or dev.texts[i][:60],
            "words": len(dev.texts[i].split()), "weight": round(float(weight), 3),
            "agreement_type": {"true": dev.targets["agreement_type"][i],
                               "predicted": predicted["agreement_type"][i],
                               "score": round(float(p[i].max()), 3),
                               "true_score": round(float(p[i, list(labels).index(
                                   dev.targets["agreement_type"][i])]), 3)},
            "sectors": {"true": dev.targets["sectors"][i], "predicted": predicted["sectors"][i],
                        "scores": {label: round(float(ps[i, j]), 3)
                                   for j, label in enumerate(labels_s)}},
        })
    return out


def run(data, dev_path, n_errors=20):
    """Both systems on the dev set: a dict ready for JSON or the printed report."""
    corpus = load_dataset(data)
    dev = load_dataset(dev_path)
    predicted, proba, seconds = tagsim_scores(corpus, dev)
    base_predicted, base_seconds = baseline_scores(corpus, dev)
    ours, base = score(dev, predicted), score(dev, base_predicted)
    return {
        "data": str(data), "dev": str(dev_path), "corpus_records": len(corpus),
        "dev_records": len(dev),
        "systems": {
            "tagsim": {"seconds": round(seconds, 1),
                       **{h: {"summary": ours[h].summary, "per_label": ours[h].per_label}
                          for h in HEADS}},
            "baseline": {"seconds": round(base_seconds, 1),
                         **{h: {"summary": base[h].summary, "per_label": base[h].per_label}
                            for h in HEADS}},
        },
        "confusion": {"labels": ours["agreement_type"].labels,
                      "tagsim": ours["agreement_type"].confusion,
                      "baseline": base["agreement_type"].confusion},
        "worst_errors": worst_errors(dev, predicted, proba, n_errors),
    }


def report(result):
    """The result as Markdown tables."""
    s = result["systems"]
    lines = [f"Trained on {result['data']} ({result['corpus_records']} records); "
             f"scored on {result['dev']} ({result['dev_records']} real stories).", "",
             "| system | agreement accuracy | agreement macro-F1 | sector micro-F1 "
             "| sector macro-F1 | training |", "|---|---|---|---|---|---|"]
    names = {"tagsim": "**tagsim** (default pipeline)",
             "baseline": "TfidfVectorizer() + LinearSVC(), defaults"}
    for key, name in names.items():
        a, sec = s[key]["agreement_type"]["summary"], s[key]["sectors"]["summary"]
        lines.append(f"| {name} | {a['accuracy']:.3f} | {a['macro_f1']:.3f} | "
                     f"{sec['micro_f1']:.3f} | {sec['macro_f1']:.3f} | {s[key]['seconds']} s |")
    for head in HEADS:
        lines += ["", f"Per label, {head} (tagsim / baseline F1):", "",
                  "| label | support | precision | recall | F1 | baseline F1 |",
                  "|---|---|---|---|---|---|"]
        base = {r["label"]: r for r in s["baseline"][head]["per_label"]}
        for r in s["tagsim"][head]["per_label"]:
            lines.append(f"| {r['label']} | {r['support']} | {r['precision']:.3f} | "
                         f"{r['recall']:.3f} | {r['f1']:.3f} | {base[r['label']]['f1']:.3f} |")
    labels = result["confusion"]["labels"]
    short = [label[:6] for label in labels]
    lines += ["", "Agreement-type confusion (tagsim; rows true, columns predicted):", "",
              "| true \\ predicted | " + " | ".join(short) + " |",
              "|---|" + "---|" * len(labels)]
    for label, row in zip(labels, result["confusion"]["tagsim"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", f"The {len(result['worst_errors'])} worst errors (tagsim):", "",
              "| id | words | title | agreement true → predicted (score) | "
              "sectors true → predicted |", "|---|---|---|---|---|"]
    for e in result["worst_errors"]:
        a, sec = e["agreement_type"], e["sectors"]
        top = ", ".join(f"{k} {v:.2f}" for k, v in sec["scores"].items() if v >= 0.1)
        lines.append(f"| {e['id']} | {e['words']} | {e['title'][:50]} | {a['true']} → "
                     f"{a['predicted']} ({a['score']:.2f}) | {sec['true']} → "
                     f"{sec['predicted']} ({top}) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "articles.jsonl.gz"),
                        help="training corpus (default: data/articles.jsonl.gz)")
    parser.add_argument("--dev", default=str(ROOT.parent / "shared" / "datasets"
                                             / "real_deals_dev.jsonl"),
                        help="labelled real stories to score (default: "
                             "../shared/datasets/real_deals_dev.jsonl)")
    parser.add_argument("--errors", type=int, default=20, help="how many worst errors to list")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if not Path(args.dev).is_file():
        parser.exit(2, f"bench/real.py: --dev {args.dev}: no such file\n")
    result = run(args.data, args.dev, args.errors)
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
