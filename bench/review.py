"""Does the review loop pay? A simulated reviewer: the queue's picks vs random picks.

On a pool whose labels are known, start from a small random labelled seed; each round a
reviewer labels 50 more documents, chosen either by tagsim's review queue (least certain
first, `model.review.uncertainty` on the current model's scores) or at random; the model
is retrained after each round (tagsim's own pipeline, `training.train.make_tagger`) and
scored on documents it never sees in the pool.

* Reuters-21578 ModApte (multi-label, 90 topics): the training split (or a seeded subset,
  `--reuters-pool`) is the pool, the test split (or `--reuters-test` of it) the scoring
  set; micro-F1 over all topics, averaged over `--reuters-repeats` runs with their own
  seed documents and random picks (one run's curve moves by a few points).
* BBC News (5 classes): stratified k-fold cross-validation, each fold the scoring set and
  the other folds the pool; accuracy, averaged over the folds.

Target: the queue reaches the random strategy's final score with at most 60% of the
reviews random needed. Prints a Markdown table and writes a plot of both learning curves.

    python bench/review.py [--datasets ../shared/datasets] [--rounds 10] [--out bench/results]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

from model.review import uncertainty
from model.tagger import HeadSpec
from training.train import make_tagger

ROOT = Path(__file__).resolve().parents[1]

REUTERS = "reuters21578_modapte.jsonl.gz"
BBC = "bbc_news.jsonl.gz"
# The settings bench/quality.py uses on Reuters; and a faster calibration for many refits.
REUTERS_FEATURES = {"word_ngrams": (1, 1)}
HEAD_PARAMS = {"nb_power": 0, "C": 1.0, "cv": 3}


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def text_of(record):
    return f"{record['title']}\n{record['text']}" if record.get("title") else record["text"]


class Task:
    """A pool with known labels and a scoring set, for one head."""

    def __init__(self, name, multilabel, pool_texts, pool_labels, test_texts, test_labels):
        self.name, self.multilabel = name, multilabel
        self.pool_texts, self.pool_labels = pool_texts, pool_labels
        self.test_texts, self.test_labels = test_texts, test_labels
        self.all_labels = sorted({v for vs in pool_labels + test_labels
                                  for v in (vs if multilabel else [vs])})

    def fit(self, rows, features):
        labels = [self.pool_labels[i] for i in rows]
        seen = sorted({v for vs in labels for v in (vs if self.multilabel else [vs])})
        spec = HeadSpec("y", self.multilabel, tuple(seen))
        tagger = make_tagger([spec], features, HEAD_PARAMS, n_jobs=1)
        return tagger.fit([self.pool_texts[i] for i in rows], {"y": labels}), spec

    def score(self, tagger, spec):
        X = tagger.features.transform(self.test_texts)
        predicted = tagger.predict_labels(X)["y"]
        if not self.multilabel:
            return float(np.mean([p == t for p, t in zip(predicted, self.test_labels,
                                                         strict=True)]))
        tp = sum(len(set(p) & set(t)) for p, t in zip(predicted, self.test_labels, strict=True))
        n_pred = sum(map(len, predicted))
        n_true = sum(map(len, self.test_labels))
        return 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0

    def least_certain(self, tagger, spec, candidates, n):
        X = tagger.features.transform([self.pool_texts[i] for i in candidates])
        head = tagger.heads["y"]
        P = head.predict_proba(X)
        u = uncertainty(P, head.thresholds_ if self.multilabel else None)
        return [candidates[j] for j in np.argsort(u, kind="stable")[:n]]


def learning_curve(task, strategy, seed_rows, rounds, batch, rng, features, log):
    """(reviews, score) after the seed and after each round of *batch* reviews."""
    labelled = list(seed_rows)
    curve = []
    for r in range(rounds + 1):
        tagger, spec = task.fit(labelled, features)
        curve.append((len(labelled) - len(seed_rows), task.score(tagger, spec)))
        log(f"  {task.name} {strategy}: {curve[-1][0]} reviews -> {curve[-1][1]:.3f}")
        if r == rounds:
            break
        taken = set(labelled)
        candidates = [i for i in range(len(task.pool_texts)) if i not in taken]
        if strategy == "queue":
            picked = task.least_certain(tagger, spec, candidates, batch)
        else:
            picked = list(rng.choice(candidates, size=batch, replace=False))
        labelled += [int(i) for i in picked]
    return curve


def reviews_to_reach(curve, target):
    """The fewest reviews after which *curve* scores at least *target* (None if never)."""
    for reviews, score in curve:
        if score >= target - 1e-9:
            return reviews
    return None


def reuters_task(path, pool_size, test_size, seed):
    records = read(path)
    rng = np.random.default_rng(seed)
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    pool_size, test_size = pool_size or len(train), test_size or len(test)
    train = [train[i] for i in rng.choice(len(train), size=min(pool_size, len(train)),
                                          replace=False)]
    test = [test[i] for i in rng.choice(len(test), size=min(test_size, len(test)),
                                        replace=False)]
    return Task("Reuters ModApte", True, [text_of(r) for r in train], [r["labels"] for r in train],
                [text_of(r) for r in test], [r["labels"] for r in test])


def bbc_tasks(path, folds, seed):
    from sklearn.model_selection import StratifiedKFold

    records = read(path)
    texts = [text_of(r) for r in records]
    y = [r["label"] for r in records]
    split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y)
    for k, (pool, test) in enumerate(split):
        yield Task(f"BBC fold {k + 1}", False, [texts[i] for i in pool], [y[i] for i in pool],
                   [texts[i] for i in test], [y[i] for i in test])


def run(tasks, args, features, log):
    """Both strategies on each task, from the same seed; the curves averaged over tasks.

    The (task, strategy) runs are independent, so they run in worker processes.
    """
    from joblib import Parallel, delayed

    jobs = []
    for t, task in enumerate(tasks):
        rng = np.random.default_rng(args.seed + t)
        seed_rows = list(rng.choice(len(task.pool_texts), size=args.seed_size, replace=False))
        for strategy in ("queue", "random"):
            jobs.append((strategy, delayed(learning_curve)(
                task, strategy, seed_rows, args.rounds, args.batch,
                np.random.default_rng(args.seed + 100 + t), features, log)))
    done = Parallel(n_jobs=args.jobs)(job for _, job in jobs)
    curves = {"queue": [], "random": []}
    for (strategy, _), curve in zip(jobs, done, strict=True):
        curves[strategy].append(curve)
    return {s: [(c[0][0], float(np.mean([x[1] for x in c]))) for c in zip(*runs, strict=True)]
            for s, runs in curves.items()}


def summary(corpus, curves, metric):
    final = curves["random"][-1]
    needed = reviews_to_reach(curves["queue"], final[1])
    ratio = None if needed is None else needed / final[0]
    return {"corpus": corpus, "metric": metric, "random_final": final[1], "random_reviews": final[0],
            "queue_final": curves["queue"][-1][1], "queue_reviews_to_match": needed,
            "ratio": ratio, "curves": curves}


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4))
    for ax, res in zip(np.atleast_1d(axes), results, strict=True):
        for strategy, style in (("queue", "o-"), ("random", "s--")):
            xs, ys = zip(*res["curves"][strategy], strict=True)
            ax.plot(xs, ys, style, label=f"{strategy}", markersize=4)
        ax.axhline(res["random_final"], color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{res['corpus']}")
        ax.set_xlabel("reviews after the seed")
        ax.set_ylabel(res["metric"])
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(results, args):
    lines = [f"Seed {args.seed_size} labelled documents, then {args.rounds} rounds of "
             f"{args.batch} reviews; retrained after each round.", "",
             "| corpus | metric | random, final | queue, final | reviews the queue needed to "
             "reach random's final | share of random's reviews |", "|---|---|---|---|---|---|"]
    for r in results:
        needed = "never" if r["queue_reviews_to_match"] is None else \
            f"{r['queue_reviews_to_match']} of {r['random_reviews']}"
        share = "—" if r["ratio"] is None else f"{r['ratio']:.0%}"
        lines.append(f"| {r['corpus']} | {r['metric']} | {r['random_final']:.3f} | "
                     f"{r['queue_final']:.3f} | {needed} | {share} |")
    lines += ["", "Learning curves (reviews: queue / random):", ""]
    for r in results:
        points = ", ".join(f"{q[0]}: {q[1]:.3f} / {s[1]:.3f}" for q, s in zip(
            r["curves"]["queue"], r["curves"]["random"], strict=True))
        lines.append(f"- {r['corpus']}: {points}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"),
                        help="folder holding the public corpora, relative to the project root "
                             "unless it exists from here (default: ../shared/datasets)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=50, help="reviews per round")
    parser.add_argument("--seed-size", type=int, default=50, help="labelled documents to start")
    parser.add_argument("--reuters-pool", type=int, default=0,
                        help="documents of the training split in the pool (default 0: all)")
    parser.add_argument("--reuters-test", type=int, default=0,
                        help="documents of the test split scored (default 0: all)")
    parser.add_argument("--reuters-repeats", type=int, default=5,
                        help="Reuters runs, each with its own seed documents and random picks "
                             "(and its own draw of a --reuters-pool / --reuters-test subset)")
    parser.add_argument("--bbc-folds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    datasets = args.datasets if args.datasets.is_dir() else ROOT / args.datasets
    for name in (REUTERS, BBC):
        if not (datasets / name).is_file():
            print(f"{datasets / name}: not found; pass --datasets FOLDER", file=sys.stderr)
            return 2
    log = (lambda *_: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    started = time.perf_counter()
    results = [
        summary("BBC News", run(list(bbc_tasks(datasets / BBC, args.bbc_folds, args.seed)),
                                args, None, log), "accuracy"),
        summary("Reuters ModApte", run([reuters_task(datasets / REUTERS, args.reuters_pool,
                                                     args.reuters_test, args.seed + r)
                                        for r in range(args.reuters_repeats)],
                                       args, REUTERS_FEATURES, log), "micro-F1"),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "review_curves.png")
    (args.out / "review.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(table(results, args))
    print(f"\nplot: {args.out / 'review_curves.png'}; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
