"""What each lever aimed at real copy does: corpus cross-validation and both real dev sets.

For each setting below (the default pipeline with one change), one run reports the
authored corpus' k-fold cross-validation (agreement accuracy, sector micro-F1) and,
trained on the whole corpus, both real dev sets: agreement accuracy, `none` recall,
`strategic_partnership` precision, sector micro-F1 and the share of stories fully right.
A lever is adopted when cross-validation on the corpus supports it; the dev sets say
how it transfers (bench/README.md lists what was chosen and why).

    python bench/levers.py [--data data/articles.jsonl.gz] [--dev ... --dev ...] [--folds 5]
                           [--seeds 1] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np
from real import DATASETS, DEV_SETS, fit_tagsim, fully_right, score, tagsim_scores

from training.datasets import load_dataset
from training.evaluate import cross_validate
from training.train import make_tagger

# The settings before issue 21 (no lead block, no "none" offset): each lever below is
# measured as this base with its own change, so the table reads the same whatever the
# defaults are now. "defaults now" is today's `make train`.
BASE = {"feature_params": {"lead_words": 0, "lead_weight": 1.0}, "head_params": {"null_label": None}}


def _lever(features=None, heads=None, training=None):
    out = {"feature_params": {**BASE["feature_params"], **(features or {})},
           "head_params": {**BASE["head_params"], **(heads or {})}}
    if training:
        out["training_params"] = training
    return out


LEVERS = {
    "defaults before issue 21": _lever(),
    "none bias (tuned on folds)": _lever(heads={"null_label": "none"}),
    "two-stage agreement head": _lever(heads={"null_label": "none", "two_stage": True}),
    "lead block, 40 words": _lever(features={"lead_words": 40}),
    "lead block, 40 words, weight 0.5": _lever(features={"lead_words": 40, "lead_weight": 0.5}),
    "lead 40 x0.3": _lever(features={"lead_words": 40, "lead_weight": 0.3}),
    "lead 60 x0.5": _lever(features={"lead_words": 60, "lead_weight": 0.5}),
    "lead 40 x0.5 + two-stage": _lever(features={"lead_words": 40, "lead_weight": 0.5},
                                       heads={"null_label": "none", "two_stage": True}),
    "lead 40 x0.5 + none bias": _lever(features={"lead_words": 40, "lead_weight": 0.5},
                                       heads={"null_label": "none"}),
    "short views (60 words)": _lever(training={"view_words": (60,)}),
    "sector fallback (best label above a floor)": _lever(heads={"fallback": True}),
    "defaults now": {},
    "defaults now + signing cues": {"feature_params": {"cue_weight": 1.0}},
    "defaults now + two-stage agreement head": {"head_params": {"two_stage": True}},
    "defaults now, C=1": {"head_params": {"C": 1.0}},
    "defaults now, C=4": {"head_params": {"C": 4.0}},
}


def _tagger(overrides, specs, jobs):
    return make_tagger(specs, n_jobs=jobs, **overrides)


def measure(corpus, devs, overrides, folds, seeds=1):
    """Cross-validation (averaged over *seeds* fold draws) and dev-set figures of one setting."""
    runs = [cross_validate(corpus, partial(_tagger, overrides), folds=folds, seed=seed,
                           progress=False, n_jobs=-1) for seed in range(seeds)]
    out = {"cv_agreement_accuracy": round(float(np.mean(
               [r["agreement_type"].summary["accuracy"] for r in runs])), 4),
           "cv_sector_micro_f1": round(float(np.mean(
               [r["sectors"].summary["micro_f1"] for r in runs])), 4)}
    tagger, seconds = fit_tagsim(corpus, **overrides)
    out["training_seconds"] = round(seconds, 1)
    for name, dev in devs.items():
        predicted, _ = tagsim_scores(tagger, dev)
        scores = score(dev, predicted)
        per = {r["label"]: r for r in scores["agreement_type"].per_label}
        out[name] = {"agreement_accuracy": scores["agreement_type"].summary["accuracy"],
                     "none_recall": per.get("none", {}).get("recall"),
                     "sp_precision": per.get("strategic_partnership", {}).get("precision"),
                     "sector_micro_f1": scores["sectors"].summary["micro_f1"],
                     "fully_right": fully_right(dev, predicted)}
    return out


def report(rows, dev_names):
    head = ["lever", "CV agreement acc", "CV sector micro-F1"]
    for name in dev_names:
        head += [f"{name} agreement acc", f"{name} none recall", f"{name} SP precision",
                 f"{name} sector micro-F1", f"{name} fully right"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for lever, r in rows.items():
        cells = [lever, f"{r['cv_agreement_accuracy']:.4f}", f"{r['cv_sector_micro_f1']:.4f}"]
        for name in dev_names:
            d = r[name]
            cells += ["–" if d[k] is None else f"{d[k]:.3f}"
                      for k in ("agreement_accuracy", "none_recall", "sp_precision",
                                "sector_micro_f1", "fully_right")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/articles.jsonl.gz", help="the authored corpus")
    parser.add_argument("--dev", action="append", help="a real dev set; once per set "
                        "(default: both in ../shared/datasets)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="average cross-validation over this many fold draws (default 1)")
    parser.add_argument("--only", action="append", choices=sorted(LEVERS),
                        help="measure only these settings (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    paths = args.dev or [str(DATASETS / n) for n in DEV_SETS]
    for path in paths:
        if not Path(path).is_file():
            parser.exit(2, f"bench/levers.py: --dev {path}: no such file (set DATASETS=)\n")
    if not Path(args.data).is_file():
        parser.exit(2, f"bench/levers.py: --data {args.data}: no such file\n")
    corpus = load_dataset(args.data)
    devs = {Path(p).stem: load_dataset(p) for p in paths}
    rows = {}
    for name in args.only or LEVERS:
        rows[name] = measure(corpus, devs, LEVERS[name], args.folds, args.seeds)
        print(f"measured: {name}: {json.dumps(rows[name])}", flush=True)
    print(json.dumps(rows, indent=2) if args.json else report(rows, list(devs)))


if __name__ == "__main__":
    main()
