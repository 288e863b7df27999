"""Top-10 similar-document search: tagsim's index against scikit-learn and gensim.

For each corpus size: the generated corpus (bench/corpora.py) is vectorised with the
project's TF-IDF settings fitted on the source articles, indexed, and queried with
held-out real articles, one query at a time, in this process. Every method answers
the same queries; recall@10 is measured against an exact brute-force scan.

    python bench/similarity.py                       # 10k and 100k documents
    python bench/similarity.py --sizes 1000000 --baseline-queries 20

Vectorised corpora and indexes are cached under bench/results/ (ignored by git).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import joblib
import numpy as np
from corpora import DEFAULT_DATASETS, RESULTS, SentencePool, build, parse_sizes, read_jsonl

from model.features import TextFeatures, document_text
from model.index_writer import IndexWriter
from model.similarity import SimilarityIndex
from model.tagger import Tagger
from training.index import read_corpus, vectorized_blocks
from training.train import FEATURE_PARAMS

K = 10


def fitted_features(datasets, results):
    """The project's TF-IDF settings fitted on the source articles (cached)."""
    path = Path(results) / "features.joblib"
    if path.exists():
        return joblib.load(path)
    pool = SentencePool(datasets)
    texts = [document_text(a["title"], " ".join(a["sentences"])) for a in pool.articles]
    features = TextFeatures(**FEATURE_PARAMS).fit(texts)
    joblib.dump(features, path)
    return features


def built_index(n, docs_path, features, results, log):
    """Vectorise and index the corpus of *n* documents (cached); return (path, seconds)."""
    path = Path(results) / f"index-{n}"
    stamp = path.with_suffix(".json")
    if path.exists() and stamp.exists():
        return path, json.loads(stamp.read_text())
    tagger = Tagger(features, [])  # no heads: vectorise only
    started = time.perf_counter()
    writer = IndexWriter(path, features.n_index_terms, idf=features.index_idf_)
    ids = []
    for block, words, *_ in vectorized_blocks(tagger, read_corpus(docs_path)):
        writer.add(words)
        ids.extend(b[0] for b in block)
    vectorized = time.perf_counter()
    writer.close(ids)
    times = {"vectorize_s": vectorized - started, "index_s": time.perf_counter() - vectorized}
    stamp.write_text(json.dumps(times))
    log(f"indexed {n} documents: {times}")
    return path, times


def warm(index):
    """Fault in every page of the mapped index, as a server's first queries would."""
    rows = index.rows
    arrays = [rows.terms, rows.counts, rows.norms, rows.indptr, rows.wide, rows.wide_indptr] \
        if hasattr(rows, "counts") else [rows.matrix.data, rows.matrix.indices, rows.matrix.indptr]
    for shard in index.shards:
        arrays += [shard.data, shard.rows, shard.pointers, shard.wide, shard.wide_pointers]
    for a in (a for a in arrays if a is not None):
        a[:: max(1, 4096 // a.itemsize)].sum()


def exact_top(matrix, q, k=K):
    """Brute force: every row's score; the best k rows by (-score, row), and all scores."""
    scores = np.asarray(matrix @ q.toarray().ravel()).ravel()
    rows = np.flatnonzero(scores > 0)
    return rows[np.lexsort((rows, -scores[rows]))][:k], scores


def percentiles(seconds):
    ms = 1e3 * np.asarray(seconds)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed(search, queries):
    """Answers and per-query seconds of *search* over the queries, after one warm-up."""
    search(queries[0])
    out, seconds = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(search(q))
        seconds.append(time.perf_counter() - t)
    return out, seconds


def recall(found, truth):
    """Share of the true top-k matched, ties counted as equal.

    The generated corpora hold duplicate documents, so several rows can share the k-th
    score; a returned row counts as a hit when its exact score reaches the k-th best
    exact score (within float32 rounding), whichever of the tied rows it is.
    """
    hits = total = 0
    for rows, (best, scores) in zip(found, truth, strict=False):
        if not len(best):
            continue
        kth = scores[best[-1]]
        rows = np.unique(np.asarray(rows, dtype=np.int64))[:len(best)]
        hits += int(np.count_nonzero(scores[rows] >= kth * (1 - 1e-6)))
        total += len(best)
    return hits / max(1, total)


def inverted_only(index):
    """The search before pruning, kept as a lever baseline: every query term, dense scores.

    From an index with one-byte postings the scores are their upper bounds (code times
    scale), so its recall below 1 is that of ranking by them without rescoring.
    """
    def search(q):
        rows, scores = [], []
        for shard in index.shards:
            weights = q.data.astype(np.float32)
            if shard.scales is not None:
                weights = weights * shard.scales[q.indices]
            postings = shard.postings[q.indices].astype(np.float32)
            s = np.asarray(postings.T @ weights).ravel()
            top = np.argpartition(-s, K)[:K] if len(s) > K else np.arange(len(s))
            rows.append(top + shard.start)
            scores.append(s[top])
        rows, scores = np.concatenate(rows), np.concatenate(scores)
        return rows[np.lexsort((rows, -scores))][:K]
    return search


def run_size(n, args, features, log):
    paths, queries_path = build([n], args.datasets, args.results, log)
    index_path, build_times = built_index(n, paths[n], features, args.results, log)
    started = time.perf_counter()
    index = SimilarityIndex.load(index_path)
    load_s = time.perf_counter() - started
    warm(index)
    query_docs = read_jsonl(queries_path, args.queries)
    Q = features.transform_index([document_text(d["title"], d["text"]) for d in query_docs])
    queries = [Q[i] for i in range(Q.shape[0])]
    X = index.matrix
    truth = [exact_top(X, q) for q in queries[: args.recall_queries]]
    rows = []

    def add(method, found, seconds, memory, build_s, n_queries):
        p50, p99 = percentiles(seconds)
        rows.append({"docs": n, "method": method, "queries": n_queries, "p50_ms": p50,
                     "p99_ms": p99, "memory_mb": memory / 1e6, "build_s": build_s,
                     "recall": recall(found[: len(truth)], truth[: len(found)])})
        log(f"  {n} {method}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")

    size = sum(p.stat().st_size for p in index_path.iterdir())
    shards = f"{len(index.shards)} shard{'s' if len(index.shards) > 1 else ''}"
    ours, seconds = timed(lambda q: index.top_k(q, K)[0], queries)
    add(f"tagsim (pruned, exact; {shards}, {index.threads} thread)", ours, seconds, size,
        build_times["index_s"], len(queries))
    if len(index.shards) > 1:
        index.threads = len(index.shards)
        found, seconds = timed(lambda q: index.top_k(q, K)[0], queries)
        add(f"lever: tagsim, {shards} searched by {index.threads} threads", found, seconds, size,
            build_times["index_s"], len(queries))
        index.threads = 1
        started = time.perf_counter()
        single = SimilarityIndex(X, index.ids, shards=1)
        single_s = time.perf_counter() - started
        found, seconds = timed(lambda q: single.top_k(q, K)[0], queries)
        add("lever: tagsim, 1 shard", found, seconds, size, single_s, len(queries))
        del single
        gc.collect()
    found, seconds = timed(inverted_only(index), queries)
    add("lever: no pruning (every posting, dense scores)", found, seconds, size,
        build_times["index_s"], len(queries))
    if args.baseline_queries > 0:
        rows.extend(baselines(n, X, queries[: args.baseline_queries], truth, log))
    for row in rows:
        row["load_s"] = load_s if row["method"].startswith("tagsim (") else None
        row["vectorize_s"] = build_times["vectorize_s"]
    return rows


def baselines(n, X, queries, truth, log):
    """scikit-learn brute-force cosine kNN and gensim's sparse index, if installed."""
    from sklearn.neighbors import NearestNeighbors

    out = []
    t = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=K, metric="cosine", algorithm="brute").fit(X)
    fit_s = time.perf_counter() - t
    found, seconds = timed(lambda q: nn.kneighbors(q, K, return_distance=False)[0], queries)
    p50, p99 = percentiles(seconds)
    out.append({"docs": n, "method": "scikit-learn NearestNeighbors brute cosine",
                "queries": len(queries), "p50_ms": p50, "p99_ms": p99,
                "memory_mb": _nbytes(nn._fit_X) / 1e6, "build_s": fit_s,
                "recall": recall(found, truth[: len(found)])})
    log(f"  {n} scikit-learn: p50 {p50:.1f} ms")
    nn = None  # free its copy of the corpus before gensim builds its own
    gc.collect()
    try:
        from gensim.similarities import SparseMatrixSimilarity
    except ImportError:
        log("  gensim is not installed (pip install -e '.[bench]'); skipped")
        return out
    t = time.perf_counter()
    sim = SparseMatrixSimilarity(X, num_features=X.shape[1], num_best=K)
    fit_s = time.perf_counter() - t
    found, seconds = timed(lambda q: [d for d, _ in sim[q]], queries)
    p50, p99 = percentiles(seconds)
    out.append({"docs": n, "method": "gensim SparseMatrixSimilarity", "queries": len(queries),
                "p50_ms": p50, "p99_ms": p99, "memory_mb": _nbytes(sim.index) / 1e6,
                "build_s": fit_s, "recall": recall(found, truth[: len(found)])})
    log(f"  {n} gensim: p50 {p50:.1f} ms")
    return out


def _nbytes(m):
    return m.data.nbytes + m.indices.nbytes + m.indptr.nbytes


def table(rows):
    """Markdown table of the results, with each method's p50 relative to ours."""
    ours = {r["docs"]: r["p50_ms"] for r in rows if r["method"].startswith("tagsim (")}
    lines = ["| docs | method | queries | p50 ms | p99 ms | x ours (p50) | recall@10 | "
             "index MB | build s | load s |", "|" + "---|" * 10]
    for r in rows:
        load = "" if r["load_s"] is None else f"{r['load_s']:.2f}"
        lines.append(f"| {r['docs']:,} | {r['method']} | {r['queries']} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['p50_ms'] / ours[r['docs']]:.1f} | "
                     f"{r['recall']:.3f} | {r['memory_mb']:.0f} | {r['build_s']:.1f} | {load} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000, 100_000],
                        help="corpus sizes (default 10000,100000; add 1000000 for the big run)")
    parser.add_argument("--queries", type=int, default=None,
                        help="queries timed for tagsim (default: all 616 held-out articles)")
    parser.add_argument("--baseline-queries", type=int, default=50,
                        help="queries timed for the slow baselines (default 50; 0 skips them)")
    parser.add_argument("--recall-queries", type=int, default=100,
                        help="queries checked against a brute-force scan (default 100)")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    features = fitted_features(args.datasets, args.results)
    rows = []
    for n in args.sizes:
        rows.extend(run_size(n, args, features, log))
        gc.collect()
    (args.results / "similarity.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
