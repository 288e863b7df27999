"""In-process latency of /v1/tag's work for a 3 KB article: tagsim's tagger vs scikit-learn.

The tagger is trained (once, cached under bench/results/) on the default corpus,
data/articles.jsonl.gz, as `make train` does. The articles are real BBC News stories cut
to 3,000 characters at a word boundary. Each call tags one article, as a request does.
The baseline is the textbook scikit-learn pipeline: a TfidfVectorizer with the same
settings and OneVsRestClassifier(LinearSVC), fitted on the same corpus, whose
``predict`` is timed on the same articles.

    python bench/latency.py [--runs 500] [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np

from model.features import document_text
from model.loaded import load_verified
from training.train import FEATURE_PARAMS, train

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "bench" / "results"
ARTICLE_CHARS = 3000


def articles(datasets, n):
    """*n* real articles of ARTICLE_CHARS characters (BBC stories at least that long)."""
    out = []
    with gzip.open(Path(datasets) / "bbc_news.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            text = record["text"]
            if len(text) >= ARTICLE_CHARS:
                out.append((record.get("title") or None, text[:ARTICLE_CHARS].rsplit(" ", 1)[0]))
    return [out[i % len(out)] for i in range(n)]


def trained_home(results, data):
    """A home with the default model (trained on first use)."""
    home = Path(results) / "latency-home"
    if not (home / "current").exists():
        train(data, home, folds=0, progress=False, log=lambda *_: None)
    return home


def timed(fn, items):
    fn(items[0])
    seconds = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        seconds.append(time.perf_counter() - t)
    ms = 1e3 * np.asarray(seconds)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def baseline(data):
    """TfidfVectorizer + OneVsRestClassifier(LinearSVC) on the sectors of the corpus."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    opener = gzip.open if str(data).endswith(".gz") else open
    with opener(data, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    texts = [document_text(r.get("title"), r["text"]) for r in records]
    Y = MultiLabelBinarizer().fit_transform([r["sectors"] for r in records])
    vectorizer = TfidfVectorizer(ngram_range=FEATURE_PARAMS["word_ngrams"], sublinear_tf=True,
                                 strip_accents="unicode", min_df=FEATURE_PARAMS["min_df"],
                                 max_df=FEATURE_PARAMS["max_df"], dtype=np.float32)
    return make_pipeline(vectorizer, OneVsRestClassifier(LinearSVC())).fit(texts, Y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "articles.jsonl.gz")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    tagger = load_verified(trained_home(args.results, args.data), with_index=False).tagger
    items = articles(args.datasets, args.runs)
    texts = [document_text(t, x) for t, x in items]
    X = tagger.features.transform(texts[:1])
    rows = [
        ("tagsim Tagger.tag (vectorize + all heads + answer)",
         timed(lambda item: tagger.tag([item]), items)),
        ("  of which TextFeatures.transform", timed(lambda t: tagger.features.transform([t]), texts)),
        ("  of which heads' predict_proba (one product each)",
         timed(lambda _: [h.predict_proba(X) for h in tagger.heads.values()], items)),
    ]
    pipeline = baseline(args.data)
    X_base = pipeline[0].transform(texts[:1])
    rows += [
        ("scikit-learn TfidfVectorizer + OneVsRestClassifier(LinearSVC).predict",
         timed(lambda t: pipeline.predict([t]), texts)),
        ("  of which OneVsRestClassifier.predict",
         timed(lambda _: pipeline[-1].predict(X_base), items)),
    ]
    print(f"one article of {ARTICLE_CHARS} characters per call, {args.runs} calls, in-process\n")
    print("| what | p50 ms | p99 ms |\n|---|---|---|")
    for name, (p50, p99) in rows:
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")


if __name__ == "__main__":
    main()
