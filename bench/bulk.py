"""Bulk tagging on Dask against the glue users write today, and PostgreSQL against SQLite.

Generates ``--docs`` articles with bench/corpora.py, split into ``--partitions`` JSONL
files, and in one run measures:

- `tagsim tag --data ... --out ...` (`service.bulk.bulk_tag`, the command's code) on a
  local Dask cluster of 1 and of 2 worker processes: articles/s (cluster start-up not
  included, reported apart), the scaling from 1 to 2 workers, each worker's peak RSS;
- a loop over ``POST /v1/tag/batch`` (1,000 articles per call, 2 client threads) against
  ``tagsim serve --workers 2`` (body limit raised to 16 MiB for it), over the first
  ``--baseline-docs`` articles;
- a plain scikit-learn pipeline (TfidfVectorizer + LinearSVC per head, trained on
  data/articles.jsonl.gz) reading the same files and calling ``predict``, in one process;
- the document store: add-document latency and similar-after-write latency (a write
  through one replica, then ``/v1/similar`` through another), SQLite vs PostgreSQL.

    python bench/bulk.py [--docs 1000000] [--partitions 40] [--baseline-docs 200000]
                         [--home artifacts] [--postgres postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import corpora
from load import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def partitions(n_docs, n_parts, datasets):
    """The generated corpus split into *n_parts* JSONL files (cached); their paths."""
    folder = corpora.RESULTS / f"bulk-input-{n_docs}-{n_parts}"
    files = sorted(folder.glob("part-*.jsonl"))
    if len(files) == n_parts:
        return files
    source = corpora.build([n_docs], datasets, log=log)[0][n_docs]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    per = -(-n_docs // n_parts)
    with open(source, encoding="utf-8") as fh:
        for p in range(n_parts):
            with open(folder / f"part-{p:04d}.jsonl", "w", encoding="utf-8") as out:
                for _ in range(per):
                    line = fh.readline()
                    if not line:
                        break
                    out.write(line)
    return sorted(folder.glob("part-*.jsonl"))


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_tagsim(files, home, workers):
    """bulk_tag on a fresh local cluster of *workers* processes: (summary, start-up s, peak MiB)."""
    from distributed import Client, LocalCluster

    from service.bulk import bulk_tag

    out = Path(tempfile.mkdtemp(prefix="tagsim-bulk-", dir=corpora.RESULTS))
    t = time.monotonic()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", memory_limit=0) as cluster, Client(cluster) as client:
        startup = time.monotonic() - t
        summary = bulk_tag(files[0].parent / "part-*.jsonl", out, home,
                           scheduler=cluster.scheduler_address, log=lambda *_: None)
        peaks = sorted(client.run(_peak_rss_mib).values())
    shutil.rmtree(out)
    return summary, startup, peaks


def run_http(files, home, n_docs, batch=1000, threads=2):
    """Articles/s of a loop over /v1/tag/batch (the glue script users write)."""
    docs = []
    for path in files:
        docs.extend(corpora.read_jsonl(path, n_docs - len(docs)))
        if len(docs) >= n_docs:
            break
    port = free_port()
    os.environ["TAGSIM_MAX_BODY_BYTES"] = str(16 << 20)  # 1,000 articles need more than 1 MiB
    with open(corpora.RESULTS / "bulk-server.log", "ab") as server_log:
        proc, _ = start_server(home, port, 2, server_log)
        try:
            def post(chunk):
                body = json.dumps({"items": [{"id": d["id"], "title": d["title"], "text": d["text"]}
                                             for d in chunk]}).encode()
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag/batch", body,
                                             {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=120) as r:
                    assert len(json.loads(r.read())["results"]) == len(chunk)

            chunks = [docs[i:i + batch] for i in range(0, len(docs), batch)]
            post(chunks[0])  # warm up
            t = time.monotonic()
            workers = [threading.Thread(target=lambda k=k: [post(c) for c in chunks[k::threads]])
                       for k in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            return len(docs) / (time.monotonic() - t)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run_sklearn(files, n_docs):
    """Articles/s of a plain scikit-learn pipeline's predict, reading the same files."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    train = corpora.read_jsonl(ROOT / "data" / "articles.jsonl.gz")
    texts = [f"{r.get('title', '')}\n{r['text']}" for r in train]
    sectors = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
                            OneVsRestClassifier(LinearSVC()))
    sectors.fit(texts, MultiLabelBinarizer().fit_transform([r["sectors"] for r in train]))
    agreement = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
                              LinearSVC())
    agreement.fit(texts, [r["agreement_type"] for r in train])
    done, t = 0, time.monotonic()
    for path in files:
        block = corpora.read_jsonl(path, n_docs - done)
        if not block:
            break
        block_texts = [f"{d['title']}\n{d['text']}" for d in block]
        sectors.predict(block_texts)
        agreement.predict(block_texts)
        done += len(block)
    return done / (time.monotonic() - t)


def store_latency(home, url, n=300):
    """p50/p99 ms of POST /v1/documents, and of /v1/similar on a second replica right after."""
    from service import create_app
    from service.settings import Settings

    settings = Settings(home=home, database_url=url or None, reload_seconds=0)
    one, two = (create_app({"TESTING": True}, settings).test_client() for _ in range(2))
    add, similar = [], []
    texts = list(dict.fromkeys(  # distinct texts, so each one's own document comes first
        q["text"][:2000] for q in corpora.read_jsonl(corpora.RESULTS / "corpora" / "queries.jsonl")
        if len(q["text"].split()) >= 20))[:n]
    for text in texts:
        doc_id = f"bench-{uuid.uuid4().hex}"
        t = time.perf_counter()
        r = one.post("/v1/documents", json={"id": doc_id, "text": text})
        add.append(time.perf_counter() - t)
        assert r.status_code == 201, r.get_json()
        t = time.perf_counter()
        r = two.post("/v1/similar", json={"text": text, "k": 1})
        similar.append(time.perf_counter() - t)
        assert r.get_json()["results"][0]["id"] == doc_id
    return [_percentiles(add), _percentiles(similar)]


def _percentiles(seconds):
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]


def postgres_database(server):
    """A fresh database on *server* for the store benchmark; (url, drop function)."""
    import psycopg

    name = f"tagsim_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(server, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return server.rsplit("/", 1)[0] + "/" + name, drop


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=40)
    parser.add_argument("--baseline-docs", type=int, default=200_000,
                        help="articles the two baselines tag (the first ones of the same files)")
    parser.add_argument("--home", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--datasets", type=Path, default=corpora.DEFAULT_DATASETS)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    if not (args.home / "current").exists():
        sys.exit(f"bench/bulk.py: no model in {args.home}: run 'make train' first")
    home = args.home.resolve()
    files = partitions(args.docs, args.partitions, args.datasets)
    log(f"{args.docs} articles in {len(files)} files under {files[0].parent}")

    tagsim = {}
    for workers in (1, 2):
        log(f"tagsim tag, {workers} worker(s)")
        tagsim[workers] = run_tagsim(files, home, workers)
    log("loop over /v1/tag/batch")
    http = run_http(files, home, args.baseline_docs)
    log("scikit-learn predict")
    plain = run_sklearn(files, args.baseline_docs)
    log("document store latency")
    stores = {"SQLite": None}
    drop = None
    try:
        stores["PostgreSQL"], drop = postgres_database(args.postgres)
    except Exception as exc:  # no server: say so in the table rather than fail the rest
        log(f"PostgreSQL not measured: {exc}")
    latency = {}
    with tempfile.TemporaryDirectory(dir=corpora.RESULTS) as tmp:
        try:
            for name, url in stores.items():
                copy = Path(tmp) / name
                shutil.copytree(home, copy, symlinks=True,
                                ignore=shutil.ignore_patterns("documents.sqlite*"))
                latency[name] = store_latency(copy, url)
        finally:
            if drop:
                drop()

    rate = {w: s["articles"] / s["seconds"] for w, (s, _, _) in tagsim.items()}
    print(f"\n{args.docs:,} generated articles in {len(files)} JSONL files; the baselines over the "
          f"first {args.baseline_docs:,} of them; same run, same 2-core machine\n")
    print("| system | articles/s | vs /v1/tag/batch loop | peak RSS per worker MiB |")
    print("|---|---|---|---|")
    for w, (summary, startup, peaks) in tagsim.items():
        print(f"| `tagsim tag`, Dask, {w} worker{'s' if w > 1 else ''} ({summary['articles']:,} "
              f"articles in {summary['seconds']:.0f} s; cluster start {startup:.1f} s) | "
              f"{rate[w]:,.0f} | {rate[w] / http:.2f}× | {' / '.join(f'{p:.0f}' for p in peaks)} |")
    print(f"| loop over `/v1/tag/batch` (1,000 per call, 2 threads; `tagsim serve --workers 2`) | "
          f"{http:,.0f} | 1.00× | – |")
    print(f"| scikit-learn TfidfVectorizer + LinearSVC `predict`, 1 process | {plain:,.0f} | "
          f"{plain / http:.2f}× | – |")
    print(f"\nscaling from 1 to 2 workers: {rate[2] / rate[1]:.2f}×\n")
    print("| document store | add p50 / p99 ms | similar right after, other replica, p50 / p99 ms |")
    print("|---|---|---|")
    for name, ((a50, a99), (s50, s99)) in latency.items():
        print(f"| {name} | {a50:.2f} / {a99:.2f} | {s50:.2f} / {s99:.2f} |")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
