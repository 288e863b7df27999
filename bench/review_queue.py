"""How long the review queue takes to answer at 100k documents, against re-tagging them.

The queue reads the scores stored with the version (`scores.npz`) and ranks them in one
vectorised pass. This trains the default model on data/articles.jsonl.gz, then gives its
searcher a corpus of N rows (the real rows' stored scores and metadata, repeated) and
times `Searcher.review_queue` for each head: the first call (which computes the
uncertainty of every row) and the median of later calls. The baseline is what a queue
without stored scores would do per request: re-tag the rows' texts with the same model
(timed on 2,000 texts and scaled to N).

    python bench/review_queue.py [--size 100000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from model.loaded import load_verified
from model.search import Searcher
from model.visible import Visible
from training.datasets import load_dataset
from training.train import train

ROOT = Path(__file__).resolve().parents[1]


class Repeated:
    """A sequence of *n* rows cycling through *rows* (the corpus metadata, repeated)."""

    def __init__(self, rows, n):
        self.rows, self.n = rows, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.rows[i % len(self.rows)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "articles.jsonl.gz")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tagsim-queue-"))
    train(args.data, home, folds=0, progress=False, log=lambda *_: None)
    model = load_verified(home)
    n_real = len(model.corpus)
    rows = np.arange(args.size) % n_real
    rng = np.random.default_rng(0)
    scores = {h: np.clip(P[rows] + rng.normal(0, 0.01, (args.size, P.shape[1])), 0, 1)
              .astype(np.float32) for h, P in model.scores.items()}
    big = dataclasses.replace(model, scores=scores, corpus=Repeated(model.corpus, args.size))
    searcher = Searcher(model)
    searcher.model = big
    searcher.visible = Visible.of_corpus(searcher.heads, args.size,
                                         model.tagger.features.n_index_terms)
    print(f"| head | first call (ms) | later calls, median (ms) | re-tagging {args.size:,} "
          "texts (s) |")
    print("|---|---|---|---|")
    texts = load_dataset(args.data).texts
    sample = (texts * (2000 // len(texts) + 1))[:2000]
    started = time.perf_counter()
    model.tagger.tag([(None, t) for t in sample])
    retag = (time.perf_counter() - started) * args.size / len(sample)
    for head in model.heads:
        started = time.perf_counter()
        searcher.review_queue(head.name, 20)
        first = (time.perf_counter() - started) * 1000
        later = []
        for _ in range(20):
            started = time.perf_counter()
            searcher.review_queue(head.name, 20)
            later.append((time.perf_counter() - started) * 1000)
        print(f"| {head.name} | {first:.1f} | {statistics.median(later):.1f} | {retag:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
