"""Tagging quality on real copy: the default model on labelled stories nobody here wrote.

Trains the default pipeline (`make train`'s settings) on the corpus once, then scores
each set of real, hand-labelled stories given with ``--dev`` (by default both of
../shared/datasets: 1987 wire copy and modern news and press releases), side by side:
agreement-type accuracy and F1, sector micro- and macro-F1, the share of stories fully
right (every sector and the agreement type), per-label precision/recall/F1, the
agreement-type confusion matrix and the worst errors with their scores. In the same run,
the textbook pipeline — TfidfVectorizer() with LinearSVC() (one-vs-rest for sectors) at
default settings — is trained on the same corpus and scored on the same stories.

The real stories are read where they are and never trained on.

    python bench/real.py [--data data/articles.jsonl.gz]
                         [--dev ../shared/datasets/real_deals_dev.jsonl --dev ...]
                         [--errors 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from training.datasets import load_dataset
from training.evaluate import score_head
from training.train import make_tagger

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DEV_SETS = ("real_deals_dev.jsonl", "real_modern_dev.jsonl")
HEADS = ("agreement_type", "sectors")


def fit_tagsim(corpus, **overrides):
    """The default pipeline fitted on *corpus* (*overrides*: `make_tagger` keywords), and seconds."""
    started = time.perf_counter()
    tagger = make_tagger(corpus.specs, **overrides).fit(corpus.texts, corpus.targets)
    return tagger, time.perf_counter() - started


def tagsim_scores(tagger, dev):
    """Per head, the tagger's predictions and probabilities on *dev*."""
    X = tagger.features.transform(dev.texts)
    predicted = tagger.predict_labels(X)
    proba = {spec.name: (tagger.labels_of(spec), tagger.heads[spec.name].predict_proba(X))
             for spec in tagger.specs}
    return predicted, proba


def fit_baseline(corpus):
    """The textbook pipeline at default settings fitted on *corpus*, and seconds."""
    started = time.perf_counter()
    vectorizer = TfidfVectorizer().fit(corpus.texts)
    X = vectorizer.transform(corpus.texts)
    models = {}
    for spec in corpus.specs:
        if spec.multilabel:
            Y = np.array([[label in row for label in spec.labels]
                          for row in corpus.targets[spec.name]], dtype=int)
            models[spec.name] = OneVsRestClassifier(LinearSVC()).fit(X, Y)
        else:
            models[spec.name] = LinearSVC().fit(X, corpus.targets[spec.name])
    return (vectorizer, models), time.perf_counter() - started


def baseline_scores(baseline, specs, dev):
    """The fitted textbook pipeline's predictions on *dev*, per head."""
    vectorizer, models = baseline
    Xd = vectorizer.transform(dev.texts)
    predicted = {}
    for spec in specs:
        if spec.multilabel:
            predicted[spec.name] = [[spec.labels[j] for j in np.flatnonzero(row)]
                                    for row in models[spec.name].predict(Xd)]
        else:
            predicted[spec.name] = [str(c) for c in models[spec.name].predict(Xd)]
    return predicted


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


def fully_right(dev, predicted):
    """Share of *dev* whose every sector and agreement type are right."""
    hits = sum(set(predicted["sectors"][i]) == set(dev.targets["sectors"][i])
               and predicted["agreement_type"][i] == dev.targets["agreement_type"][i]
               for i in range(len(dev)))
    return round(hits / max(len(dev), 1), 3)


def _system(dev, predicted, seconds):
    scores = score(dev, predicted)
    return {"seconds": round(seconds, 1), "fully_right": fully_right(dev, predicted),
            **{h: {"summary": scores[h].summary, "per_label": scores[h].per_label,
                   "confusion": scores[h].confusion} for h in HEADS}}


def run(data, dev_paths, n_errors=20, **overrides):
    """Both systems, trained once on *data*, on every dev set: a dict for JSON or the report.

    *overrides* are `make_tagger` keywords (``head_params=...``), for measuring a lever.
    """
    corpus = load_dataset(data)
    tagger, seconds = fit_tagsim(corpus, **overrides)
    baseline, base_seconds = fit_baseline(corpus)
    sets = []
    for path in dev_paths:
        dev = load_dataset(path)
        predicted, proba = tagsim_scores(tagger, dev)
        sets.append({
            "name": Path(path).stem, "dev": str(path), "dev_records": len(dev),
            "systems": {"tagsim": _system(dev, predicted, seconds),
                        "baseline": _system(dev, baseline_scores(baseline, corpus.specs, dev),
                                            base_seconds)},
            "worst_errors": worst_errors(dev, predicted, proba, n_errors),
        })
    return {"data": str(data), "corpus_records": len(corpus), "dev_sets": sets}


def _label(summary_rows, label):
    return next((r for r in summary_rows if r["label"] == label), None)


def report(result):
    """The result as Markdown tables."""
    names = {"tagsim": "**tagsim** (default pipeline)",
             "baseline": "TfidfVectorizer() + LinearSVC(), defaults"}
    lines = [f"Trained on {result['data']} ({result['corpus_records']} records); scored on "
             + ", ".join(f"{d['name']} ({d['dev_records']} real stories)"
                         for d in result["dev_sets"]) + ".", "",
             "| dev set | system | agreement accuracy | agreement macro-F1 | `none` recall "
             "| `strategic_partnership` precision | sector micro-F1 | sector macro-F1 "
             "| fully right | training |", "|---|---|---|---|---|---|---|---|---|---|"]
    for d in result["dev_sets"]:
        for key, name in names.items():
            s = d["systems"][key]
            a, sec = s["agreement_type"]["summary"], s["sectors"]["summary"]
            none = _label(s["agreement_type"]["per_label"], "none")
            sp_ = _label(s["agreement_type"]["per_label"], "strategic_partnership")
            cell = lambda r, k: f"{r[k]:.3f}" if r else "–"  # noqa: E731
            lines.append(f"| {d['name']} | {name} | {a['accuracy']:.3f} | {a['macro_f1']:.3f} | "
                         f"{cell(none, 'recall')} | {cell(sp_, 'precision')} | "
                         f"{sec['micro_f1']:.3f} | {sec['macro_f1']:.3f} | "
                         f"{s['fully_right']:.3f} | {s['seconds']} s |")
    for d in result["dev_sets"]:
        s = d["systems"]
        for head in HEADS:
            lines += ["", f"{d['name']}, per label, {head} (tagsim / baseline F1):", "",
                      "| label | support | precision | recall | F1 | baseline F1 |",
                      "|---|---|---|---|---|---|"]
            base = {r["label"]: r for r in s["baseline"][head]["per_label"]}
            for r in s["tagsim"][head]["per_label"]:
                lines.append(f"| {r['label']} | {r['support']} | {r['precision']:.3f} | "
                             f"{r['recall']:.3f} | {r['f1']:.3f} | {base[r['label']]['f1']:.3f} |")
        labels = [r["label"] for r in s["tagsim"]["agreement_type"]["per_label"]]
        lines += ["", f"{d['name']}, agreement-type confusion (tagsim; rows true, columns "
                  "predicted):", "", "| true \\ predicted | "
                  + " | ".join(label[:6] for label in labels) + " |",
                  "|---|" + "---|" * len(labels)]
        for label, row in zip(labels, s["tagsim"]["agreement_type"]["confusion"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        if d["worst_errors"]:
            lines += ["", f"{d['name']}, the {len(d['worst_errors'])} worst errors (tagsim):", "",
                      "| id | words | title | agreement true → predicted (score) | "
                      "sectors true → predicted |", "|---|---|---|---|---|"]
        for e in d["worst_errors"]:
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
    parser.add_argument("--dev", action="append",
                        help="labelled real stories to score; give it once per set (default: "
                             + " and ".join(f"../shared/datasets/{n}" for n in DEV_SETS) + ")")
    parser.add_argument("--errors", type=int, default=20, help="how many worst errors to list per set")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    devs = args.dev or [str(DATASETS / n) for n in DEV_SETS]
    for dev in devs:
        if not Path(dev).is_file():
            parser.exit(2, f"bench/real.py: --dev {dev}: no such file (the dev sets are in "
                           "../shared/datasets beside a checkout; point at them with DATASETS=)\n")
    result = run(args.data, devs, args.errors)
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
