"""tagsim's similar-article index against a Lucene-class peer (tantivy), on the same corpus.

Both indexes are built from the same generated corpus file (bench/corpora.py): tagsim's
with `tagsim index` (which also tags every document; its log says how long that took),
tantivy's with one text field (term frequencies, no positions) written by two threads.
The same held-out real articles are then asked of both, interleaved query by query in
one process, text in and ten ids out: tagsim vectorises the text and runs its exact
top-10; tantivy runs a more-like-this query built from the same text with the 25 best
terms (its defaults otherwise, as Elasticsearch's: a term must occur twice in the query
and in five documents). Resident memory is measured per engine, each in a fresh process
that opens only its own index and runs the same queries. A second tagsim index, built
the same way but holding every word of the tagger's vocabulary (as before issue 23 gave the
index terms of its own: `--param features.index_max_df=1.0 --param
features.index_max_terms=null`),
is measured in the same run as the baseline.

    python bench/peer.py --docs 100000 [--queries 300] [--datasets ../shared/datasets]

Prints one table (and writes bench/results/peer-<docs>.json). Built indexes are cached
under --results; --rebuild builds them again.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from corpora import DEFAULT_DATASETS, RESULTS, build, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's tagsim, not another checkout's editable install
DATA = ROOT / "data" / "articles.jsonl.gz"
K = 10
MLT_TERMS = 25
FLOAT32_LEVER_DOCS = 2_000_000  # --levers makes float32 postings in memory up to this size


def _rss_mib():
    """This process' resident memory (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _size_mb(path):
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


# -- tagsim ------------------------------------------------------------------------------


# The index as it was before it had terms of its own: every word of the tagger's vocabulary.
WHOLE_VOCABULARY = ("features.index_max_df=1.0", "features.index_max_terms=null")


def build_tagsim(docs, home, log, params=()):
    """`tagsim index` of *docs* into *home* (a model is trained there first if it has none)."""
    if not (home / "current").exists():
        log(f"training the default model into {home} ...")
        subprocess.run([sys.executable, "-m", "training.cli", "train", "--data", str(DATA),
                        "--home", str(home), "--folds", "0", "--quiet",
                        *[arg for p in params for arg in ("--param", p)]], check=True, cwd=ROOT)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "training.cli", "index", "--data", str(docs),
                           "--home", str(home)], check=True, cwd=ROOT, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - started
    tagged = re.search(r"vectorised and tagged in ([0-9.]+) s", done.stdout + done.stderr)
    return {"build_s": seconds, "tagging_s": float(tagged.group(1)) if tagged else None}


class Tagsim:
    """The current version of a home: text in, the ids of the exact top-10 out."""

    def __init__(self, home, name="tagsim", threads=1):
        self.name = name
        from model.features import document_text
        from model.loaded import load_verified

        started = time.perf_counter()
        self.model = load_verified(home)
        self.model.index.threads = threads  # > 1: a thread per shard (see SimilarityIndex.load)
        self.open_s = time.perf_counter() - started
        self.text = document_text
        self.folder = self.model.folder / "index"

    def top(self, doc):
        features = self.model.tagger.features
        q = features.transform_index([self.text(doc.get("title"), doc["text"])])
        rows, _ = self.model.index.top_k(q, K)
        return rows

    def ids(self, rows):
        return [str(self.model.index.ids[r]) for r in rows]


# -- tantivy -----------------------------------------------------------------------------


def build_tantivy(docs, folder):
    """A tantivy index of *docs* in *folder*: id stored, title and text as one field."""
    import tantivy

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("body", stored=False, index_option="freq")
    index = tantivy.Index(builder.build(), path=str(folder))
    started = time.perf_counter()
    writer = index.writer(heap_size=512_000_000, num_threads=2)
    with open(docs, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            writer.add_document(tantivy.Document(id=doc["id"], body=_joined(doc)))
    writer.commit()
    writer.wait_merging_threads()
    return {"build_s": time.perf_counter() - started, "tagging_s": None}


def _joined(doc):
    return "\n".join(f for f in (doc.get("title"), doc["text"]) if f)


class Tantivy:
    """A tantivy index: text in, the top-10 of a more-like-this query of its 25 best terms."""

    name = "tantivy"

    def __init__(self, folder):
        import tantivy

        self.tantivy = tantivy
        started = time.perf_counter()
        self.index = tantivy.Index.open(str(folder))
        self.searcher = self.index.searcher()
        self.open_s = time.perf_counter() - started
        self.schema = self.index.schema
        self.folder = folder

    def top(self, doc):
        query = self.tantivy.Query.more_like_this_document_fields_query(
            self.schema, {"body": [_joined(doc)]}, max_query_terms=MLT_TERMS)
        return [address for _, address in self.searcher.search(query, K).hits]

    def ids(self, found):
        return [self.searcher.doc(address)["id"][0] for address in found]


# -- measuring ---------------------------------------------------------------------------


ENGINES = ("tagsim", "tagsim-whole", "tantivy")


def engine(name, args):
    if name == "tantivy":
        return Tantivy(args.results / f"peer-tantivy-{args.docs}")
    return Tagsim(_home(name, args), name, threads=args.threads)


def _home(name, args):
    """The tagsim home of engine *name*: the one given, or the whole-vocabulary one beside it."""
    return args.home if name == "tagsim" else args.home.with_name(args.home.name + "-whole")


def alone(args):
    """Run in a fresh process: open one engine, run the queries, report its memory as JSON."""
    queries = read_jsonl(args.queries_path, args.queries)
    before = _rss_mib()
    e = engine(args.alone, args)
    for doc in queries:
        e.top(doc)
    print(json.dumps({"rss_mib": _rss_mib(), "rss_before_open_mib": before,
                      "open_s": e.open_s}))


def interleaved(engines, queries):
    """Per engine: seconds per query and the ids found, the engines taking turns per query."""
    for e in engines:  # one warm-up query each
        e.top(queries[0])
    seconds = {e.name: [] for e in engines}
    found = {e.name: [] for e in engines}
    for i, doc in enumerate(queries):
        for e in engines if i % 2 == 0 else engines[::-1]:
            started = time.perf_counter()
            hits = e.top(doc)
            seconds[e.name].append(time.perf_counter() - started)
            found[e.name].append(e.ids(hits))
    return seconds, found


def overlap(a, b):
    """Mean share of one top-10 found in the other."""
    shares = [len(set(x) & set(y)) / max(1, min(len(x), len(y)) or 1)
              for x, y in zip(a, b, strict=True) if x and y]
    return float(np.mean(shares)) if shares else float("nan")


def measure(args, log):
    paths, queries_path = build([args.docs], args.datasets, args.results, log)
    docs = paths[args.docs]
    stamp = args.results / f"peer-build-{args.docs}.json"
    builds = json.loads(stamp.read_text()) if stamp.exists() and not args.rebuild else {}
    builds = {name: b for name, b in builds.items() if _built(name, args)}  # files still there
    for name in (n for n in args.engines if n not in builds):  # each engine built once
        log(f"building {name}'s index of {docs} ...")
        if name == "tantivy":
            builds[name] = build_tantivy(docs, args.results / f"peer-tantivy-{args.docs}")
        else:
            builds[name] = build_tagsim(docs, _home(name, args), log,
                                        () if name == "tagsim" else WHOLE_VOCABULARY)
        stamp.write_text(json.dumps(builds))
    args.queries_path = queries_path
    memory = {}
    for name in args.engines:
        out = subprocess.run([sys.executable, __file__, "--alone", name, *_passed(args)],
                             check=True, capture_output=True, text=True, cwd=ROOT)
        memory[name] = json.loads(out.stdout.strip().splitlines()[-1])
    queries = read_jsonl(queries_path, args.queries)
    engines = [engine(name, args) for name in args.engines]
    seconds, found = interleaved(engines, queries)
    rows = {}
    for e in engines:
        ms = 1e3 * np.asarray(seconds[e.name])
        rows[e.name] = {"disk_mb": _size_mb(e.folder), **builds[e.name],
                        "rss_mib": memory[e.name]["rss_mib"],
                        "open_s": memory[e.name]["open_s"],
                        "p50_ms": float(np.percentile(ms, 50)),
                        "p99_ms": float(np.percentile(ms, 99)), "queries": len(queries)}
    rows["overlap"] = overlap(found["tagsim"], found["tantivy"])
    if "tagsim-whole" in found:
        rows["overlap_whole"] = overlap(found["tagsim"], found["tagsim-whole"])
    return rows


def levers(args, log):
    """The index's own levers, on the tagsim index just measured: one process, interleaved.

    The same index is asked the same queries with its postings (one-byte codes, rows
    gap-coded within segments) and its compiled loops, with numpy and scipy alone (an
    install without a C compiler), with two-byte rows (as written before gap coding), with
    int32 rows (as written before segments), with float32 postings (as written before
    codes), with its rows rescored from float32 weights (as written before counts), and
    with each shard starting from the k-th best score of the shards before it or searched
    alone; these copies are made here from its rows. Every variant
    must return the same rows and scores: they are levers on speed and size, not on
    results — except the rows rescored from float32 weights, whose scores are the same
    cosines rounded differently (the norm divided into each weight, not into the sum):
    for it the rows must be the same and the scores within 1e-5 of each other.
    """
    import copy

    import model.similarity as similarity
    from model.similarity import SimilarityIndex, _csr32, _Shard, _term_bounds

    tagsim = Tagsim(args.home)
    index, features = tagsim.model.index, tagsim.model.tagger.features
    queries = [features.transform_index([tagsim.text(d.get("title"), d["text"])])
               for d in read_jsonl(args.queries_path, args.queries)]
    variants = {"gap-coded rows, compiled, shared theta (tagsim)": (index, True, True),
                "gap-coded rows, compiled, each shard alone": (index, False, True),
                "gap-coded rows, numpy and scipy alone, shared theta": (index, True, False)}
    counted = isinstance(index.rows, similarity._Counts)
    if all(s.gapped for s in index.shards):  # the layout before gap coding: two-byte rows
        two_byte = copy.copy(index)
        two_byte.shards = [_Shard(s.start, s.size, s.data,
                                  (s._rows_of(np.arange(s.n_terms))[0] & 0xFFFF).astype(np.uint16),
                                  s.pointers, s.bounds, s.scales) for s in index.shards]
        variants["two-byte rows (before), numpy and scipy alone, shared theta"] = \
            (two_byte, True, False)
    if len(index) <= FLOAT32_LEVER_DOCS:  # beyond, float32 copies would not fit beside it
        log("levers: float32 postings made from the rows ...")
        matrix = index.matrix  # decoded once
        plain, wide = copy.copy(index), copy.copy(index)
        plain.shards, wide.shards = [], []
        for s in index.shards:  # int32 rows, one segment: the layout before segments
            postings = _csr32(matrix[s.start:s.start + s.size].T)
            plain.shards.append(_Shard(s.start, s.size, postings.data, postings.indices,
                                       postings.indptr, _term_bounds(postings)))
            coded, bounds, scales = similarity.quantized(postings)
            wide.shards.append(_Shard(s.start, s.size, coded.data, coded.indices, coded.indptr,
                                      bounds, scales))
        variants.update({"one-byte postings, int32 rows, shared theta": (wide, True, False),
                         "float32 postings, int32 rows, shared theta": (plain, True, False),
                         "float32 postings, int32 rows, each shard alone": (plain, False, False)})
        if counted:  # the rows rescored from float32 weights, as before they were counts
            weighted = copy.copy(index)
            weighted.rows = similarity._Weights(matrix)
            variants["rows as float32 weights (before), one-byte postings, shared theta"] = \
                (weighted, True, True)
        del matrix
    if args.lever_shards:  # the same rows cut into more shards, as a larger corpus would be
        log(f"levers: the index cut into {args.lever_shards} shards ...")
        rows = index.rows
        if counted:
            terms, counts, indptr = rows._entries(np.arange(rows.shape[0]))
            cut = SimilarityIndex.from_counts(
                similarity._csr_from(np.asarray(counts), terms.astype(np.int32), indptr,
                                     rows.shape), rows.idf, index.ids, shards=args.lever_shards)
        else:
            cut = SimilarityIndex(index.matrix, index.ids, shards=args.lever_shards)
        variants.update({f"{args.lever_shards} shards, shared theta": (cut, True, True),
                         f"{args.lever_shards} shards, each alone": (cut, False, True)})
    seconds = {name: [] for name in variants}
    answers = {name: [] for name in variants}
    names = list(variants)
    try:
        for i, q in enumerate([queries[0], *queries]):  # the first is a warm-up
            for name in names if i % 2 == 0 else names[::-1]:
                searched, similarity._SHARED_THETA, similarity._COMPILED = variants[name]
                started = time.perf_counter()
                rows, scores = searched.top_k(q, K)
                if i:
                    seconds[name].append(time.perf_counter() - started)
                    answers[name].append((rows.tolist(), scores.tolist()))
    finally:
        similarity._SHARED_THETA, similarity._COMPILED = True, True
    out = {}
    for name, (searched, *_) in variants.items():
        ms = 1e3 * np.asarray(seconds[name])
        arrays = [a for s in searched.shards for a in (s.data, s.rows, s.pointers, s.wide,
                                                       s.wide_pointers, s.bounds, s.scales)
                  if a is not None]
        out[name] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                     "postings_mb": sum(a.nbytes for a in arrays) / 1e6,
                     "same_answers": _same(answers[name], answers[names[0]])}
    return out


def _same(found, expected):
    """'yes' if every answer has the same rows and scores; 'same rows; scores within X'
    (X the largest relative difference) if only float32 rounding tells them apart; else 'NO'."""
    if found == expected:
        return "yes"
    if [rows for rows, _ in found] != [rows for rows, _ in expected]:
        return "NO"
    worst = max((float(np.max(np.abs(np.subtract(a, b)) / np.maximum(np.abs(b), 1e-30),
                              initial=0.0))
                 for (_, a), (_, b) in zip(found, expected, strict=True)), default=0.0)
    return f"same rows; scores within {worst:.1e}" if worst <= 1e-5 else "NO"


def levers_table(rows):
    lines = ["| the index's levers, same queries interleaved | postings MB | p50, ms | p99, ms | "
             "same rows and scores |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['postings_mb']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                     f"| {r['same_answers']} |")
    return "\n".join(lines)


def _built(name, args):
    """Whether engine *name*'s index is on disk (a stamp outlives a deleted folder)."""
    if name == "tantivy":
        return (args.results / f"peer-tantivy-{args.docs}").is_dir()
    return (_home(name, args) / "current").exists()


def _passed(args):
    return ["--docs", str(args.docs), "--queries", str(args.queries), "--datasets",
            str(args.datasets), "--results", str(args.results), "--home", str(args.home),
            "--threads", str(args.threads)]


def table(rows, docs):
    a, w, b = rows["tagsim"], rows.get("tagsim-whole", {}), rows["tantivy"]

    def line(what, key, fmt):
        show = lambda v: "" if v is None else format(v, fmt)  # noqa: E731
        ratio = lambda x, y: f"{x / y:.2f}x" if x is not None and y else ""  # noqa: E731
        x = a.get(key)
        return (f"| {what} | {show(x)} | {show(w.get(key))} | {show(b.get(key))} | "
                f"{ratio(x, b.get(key))} | {ratio(x, w.get(key))} |")

    lines = [
        f"| at {docs:,} documents, {a['queries']} held-out real articles | tagsim | "
        f"tagsim, whole vocabulary (before) | tantivy (MLT, {MLT_TERMS} terms) | "
        "tagsim / tantivy | tagsim / before |", "|---|---|---|---|---|---|",
        line("index on disk, MB", "disk_mb", ",.0f"),
        line("build, s", "build_s", ".1f"),
        line("  of which vectorising and tagging, s", "tagging_s", ".1f"),
        line("resident after the queries, MiB", "rss_mib", ",.0f"),
        line("open (and verify), s", "open_s", ".3f"),
        line("p50, ms", "p50_ms", ".2f"),
        line("p99, ms", "p99_ms", ".2f"),
        f"| top-10 overlap with tantivy | {rows['overlap']:.3f} | | | | |",
    ]
    if "overlap_whole" in rows:  # not with --no-baseline
        lines.append(f"| top-10 overlap with the whole vocabulary | {rows['overlap_whole']:.3f}"
                     " | | | | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS,
                        help="where the public datasets are (read in place, never copied)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--home", type=Path, default=None,
                        help="the tagsim home to index into (default: <results>/peer-home-<docs>, "
                             "one per corpus size, so that a cached build is never another size's)")
    parser.add_argument("--rebuild", action="store_true", help="build the indexes again")
    parser.add_argument("--no-baseline", dest="engines", action="store_const",
                        const=("tagsim", "tantivy"), default=ENGINES,
                        help="leave out the whole-vocabulary tagsim index (the baseline), "
                             "e.g. at 10M documents, where building it twice costs an hour")
    parser.add_argument("--levers", action="store_true",
                        help="also time the index's levers (one-byte or float32 postings, shards "
                             "sharing the k-th best score or not) on the same queries")
    parser.add_argument("--lever-shards", type=int, default=0,
                        help="with --levers, also cut the index into this many shards in memory "
                             "and time shared against per-shard theta there")
    parser.add_argument("--threads", type=int, default=1,
                        help="search tagsim's shards with this many threads "
                             "(SimilarityIndex threads; 1, the server's default, searches them "
                             "in turn)")
    parser.add_argument("--alone", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    args.home = args.home or args.results / f"peer-home-{args.docs}"
    if args.alone:
        args.queries_path = args.results / "corpora" / "queries.jsonl"
        return alone(args)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = measure(args, log)
    if args.levers:
        rows["levers"] = levers(args, log)
    (args.results / f"peer-{args.docs}.json").write_text(json.dumps(rows, indent=1))
    print(table(rows, args.docs))
    if args.levers:
        print()
        print(levers_table(rows["levers"]))


if __name__ == "__main__":
    main()
