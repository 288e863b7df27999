"""Tagging quality on public benchmarks: tagsim vs plain scikit-learn vs published results.

tagsim is trained and scored only through its command line (``python -m training.cli``),
as a user would run it:

* Reuters-21578 ModApte, 90 topics: ``train`` on the training split, ``evaluate`` on the
  test split; micro- and macro-F1 over the 90 topics, and P@1 and NDCG. Three rows: the
  defaults (``train`` with no options but the data's), the settings ``tagsim tune
  --budget 10m`` finds on the training split alone (``train --params``), and the
  hand-picked ``--param`` settings. Training time is that of ``train --folds 0`` (the
  model alone); the defaults row also gives plain ``train``, whose 5-fold report
  cross-validation is part of what a user waits for.
* BBC News, 5 classes: ``evaluate --cv 5`` (stratified 5-fold cross-validation) and
  ``evaluate --holdout 0.2`` (a seeded, stratified 80/20 split); accuracy and F1.
  Training time is that of ``train`` on all 2,225 articles.

The baseline is the textbook pipeline at default settings, TfidfVectorizer() +
OneVsRestClassifier(LinearSVC()), fitted here on the same splits (the BBC folds and
hold-out are the ones the command line draws). Published rows are quoted, not rerun.
The datasets are read where they are; nothing is copied into the project.

    python bench/quality.py [--datasets ../shared/datasets] [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REUTERS = "reuters21578_modapte.jsonl.gz"
BBC = "bbc_news.jsonl.gz"
# Reuters settings chosen by hand by 5-fold cross-validation on its training split
# (bench/README.md); since issue 15 they are the defaults for heads of 30 labels or more.
REUTERS_PARAMS = ("features.word_ngrams=1,1", "heads.nb_power=0", "heads.C=1.0")
PUBLISHED = [  # (corpus, system, micro-F1, macro-F1), quoted as published
    ("Reuters ModApte 90, test", "Yang & Liu 1999, linear SVM (published)", "0.860", "0.525"),
    ("Reuters ModApte 90, test", "Yang & Liu 1999, kNN (published)", "0.857", "0.524"),
    ("Reuters ModApte 90, test", "kNN, later reproduction (published)", "0.857", "0.615"),
]


def tagsim(*args, capture=True):
    """Run the tagsim command line; return (stdout, seconds)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "training.cli", *args], cwd=ROOT, text=True,
                          capture_output=capture, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"tagsim {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout, seconds


def params(items):
    return [arg for item in items for arg in ("--param", item)]


def ours_reuters(path, home, extra=(), folds=0):
    data = ["--data", str(path), "--label-field", "labels", "--allow-empty"]
    _, seconds = tagsim("train", *data, "--where", "split=train", "--home", str(home),
                        "--folds", str(folds), "--quiet", *extra)
    out, _ = tagsim("evaluate", *data, "--where", "split=test", "--home", str(home), "--json")
    return json.loads(out)["labels"], seconds


def tune_reuters(path, out, budget):
    """`tagsim tune` on the training split; returns the seconds it took (its log to stderr)."""
    _, seconds = tagsim("tune", "--data", str(path), "--label-field", "labels", "--allow-empty",
                        "--where", "split=train", "--budget", budget, "--out", str(out),
                        capture=False)
    return seconds


def ours_bbc(path, home, seed):
    data = ["--data", str(path), "--label-field", "label"]
    cv, _ = tagsim("evaluate", *data, "--cv", "5", "--seed", str(seed), "--json")
    held, _ = tagsim("evaluate", *data, "--holdout", "0.2", "--seed", str(seed), "--json")
    _, seconds = tagsim("train", *data, "--home", str(home), "--folds", "0", "--quiet")
    return json.loads(cv)["label"], json.loads(held)["label"], seconds


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def text_of(record):
    return f"{record['title']}\n{record['text']}" if record.get("title") else record["text"]


def baseline():
    """The default scikit-learn pipeline, fresh."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(TfidfVectorizer(), OneVsRestClassifier(LinearSVC()))


def baseline_reuters(path):
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    records = read(path)
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    topics = MultiLabelBinarizer().fit([r["labels"] for r in train])
    Y, Yt = (topics.transform([r["labels"] for r in rs]) for rs in (train, test))
    started = time.perf_counter()
    model = baseline().fit([text_of(r) for r in train], Y)
    seconds = time.perf_counter() - started
    P = model.predict([text_of(r) for r in test])
    return {"micro_f1": f1_score(Yt, P, average="micro", zero_division=0),
            "macro_f1": f1_score(Yt, P, average="macro", zero_division=0)}, seconds


def baseline_bbc(path, seed):
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    records = read(path)
    texts = np.array([text_of(r) for r in records], dtype=object)
    y = np.array([r["label"] for r in records], dtype=object)

    def scores(true, pred):
        return {"accuracy": accuracy_score(true, pred),
                "micro_f1": f1_score(true, pred, average="micro"),
                "macro_f1": f1_score(true, pred, average="macro")}

    # The same folds and split as `tagsim evaluate --cv 5` and `--holdout 0.2`.
    predicted = np.empty(len(y), dtype=object)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(y, y):
        predicted[test] = baseline().fit(texts[train], y[train]).predict(texts[test])
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed,
                                   stratify=y)
    held = baseline().fit(texts[train], y[train]).predict(texts[test])
    started = time.perf_counter()
    baseline().fit(texts, y)
    seconds = time.perf_counter() - started
    return scores(y, predicted), scores(y[test], held), seconds


def row(corpus, system, m, seconds=None):
    def cell(key):
        value = m.get(key)
        return "–" if value is None else value if isinstance(value, str) else f"{value:.4f}"

    time_cell = seconds if isinstance(seconds, str) else \
        f"{seconds:.1f} s" if seconds is not None else "–"
    return (f"| {corpus} | {system} | {cell('micro_f1')} | {cell('macro_f1')} | "
            f"{cell('accuracy')} | {cell('precision_at_1')} | {cell('ndcg')} | {time_cell} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"),
                        help="folder holding the two corpora, relative to the project root "
                             "unless it exists from here (default: ../shared/datasets)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the BBC folds and hold-out")
    parser.add_argument("--tune-budget", default="10m",
                        help="budget of `tagsim tune` on Reuters (default 10m; 0 to skip)")
    args = parser.parse_args(argv)
    datasets = args.datasets if args.datasets.is_dir() else ROOT / args.datasets
    datasets = datasets.resolve()
    for name in (REUTERS, BBC):
        if not (datasets / name).is_file():
            sys.exit(f"{datasets / name}: not found; pass --datasets FOLDER")

    rows = []
    with tempfile.TemporaryDirectory(prefix="tagsim-quality-") as tmp:
        corpus = "Reuters ModApte 90, test"
        print("Reuters: tagsim train (defaults, with and without the report CV) + evaluate ...",
              file=sys.stderr, flush=True)
        ours, seconds = ours_reuters(datasets / REUTERS, Path(tmp) / "reuters")
        _, full_seconds = ours_reuters(datasets / REUTERS, Path(tmp) / "reuters-cv", folds=5)
        rows.append(row(corpus, "**tagsim, defaults (no options)**", ours,
                        f"{seconds:.1f} s ({full_seconds:.0f} s with the 5-fold report)"))
        if args.tune_budget not in ("0", "0s", "0m"):
            print(f"Reuters: tagsim tune --budget {args.tune_budget} on the training split ...",
                  file=sys.stderr, flush=True)
            tuned_file = Path(tmp) / "reuters-tuned.json"
            tune_seconds = tune_reuters(datasets / REUTERS, tuned_file, args.tune_budget)
            tuned_params = json.loads(tuned_file.read_text())["parameters"]
            tuned, seconds = ours_reuters(datasets / REUTERS, Path(tmp) / "reuters-tuned",
                                          ["--params", str(tuned_file)])
            rows.append(row(corpus, f"tagsim, `tune --budget {args.tune_budget}` "
                            f"({tune_seconds:.0f} s), then `train --params`", tuned, seconds))
        print("Reuters: tagsim train with the hand-picked --param settings ...", file=sys.stderr,
              flush=True)
        picked, seconds = ours_reuters(datasets / REUTERS, Path(tmp) / "reuters-picked",
                                       params(REUTERS_PARAMS))
        rows.append(row(corpus, "tagsim, hand-picked `--param` settings", picked, seconds))
        print("Reuters: scikit-learn baseline ...", file=sys.stderr, flush=True)
        base, base_seconds = baseline_reuters(datasets / REUTERS)
        rows.append(row("Reuters ModApte 90, test", "scikit-learn TF-IDF + OvR LinearSVC, "
                        "defaults", base, base_seconds))
        for corpus, system, micro, macro in PUBLISHED:
            rows.append(row(corpus, system, {"micro_f1": micro, "macro_f1": macro}))
        print("BBC: tagsim evaluate --cv 5, --holdout 0.2, train ...", file=sys.stderr, flush=True)
        cv, held, seconds = ours_bbc(datasets / BBC, Path(tmp) / "bbc", args.seed)
        print("BBC: scikit-learn baseline ...", file=sys.stderr, flush=True)
        base_cv, base_held, base_seconds = baseline_bbc(datasets / BBC, args.seed)
    rows += [
        row("BBC News, stratified 5-fold CV", "**tagsim**", cv, seconds),
        row("BBC News, stratified 5-fold CV", "scikit-learn TF-IDF + OvR LinearSVC, defaults",
            base_cv, base_seconds),
        row("BBC News, 80/20 hold-out", "**tagsim**", held, seconds),
        row("BBC News, 80/20 hold-out", "scikit-learn TF-IDF + OvR LinearSVC, defaults",
            base_held, base_seconds),
    ]
    print("| corpus | system | micro-F1 | macro-F1 | accuracy | P@1 | NDCG | training time |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nHand-picked Reuters settings: {' '.join(params(REUTERS_PARAMS))}; BBC: defaults. "
          f"Seed {args.seed}. Training time: the whole `tagsim train --folds 0` command "
          "(reading, features, calibration, fitting, writing the version), or the baseline's "
          "fit.")
    if args.tune_budget not in ("0", "0s", "0m"):
        print(f"Tuned Reuters settings: {json.dumps(tuned_params)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
