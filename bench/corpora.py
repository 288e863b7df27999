"""Deterministic similarity corpora of any size, built from the sentences of the public datasets.

Every article of both corpora in ``--datasets`` (Reuters-21578 and BBC News) is split into
sentences. One article in twenty (chosen by a hash of its id) is held out: those are the
*queries*, real article text whose sentences never occur in a generated corpus. Each
generated document takes the length (in sentences) of a random source article and is
filled with contiguous runs of sentences from two or three articles that share a topic
label with it, so the corpus has the vocabulary, sentence statistics and topical
clustering of real news. Document ``j`` depends only on ``j`` and the seed, so the 10k
corpus is a prefix of the 100k corpus, which is a prefix of the 1M one.

    python bench/corpora.py --sizes 10000,100000 [--datasets ../shared/datasets]

writes ``bench/results/corpora/docs-<n>.jsonl`` and ``queries.jsonl`` (cached: a file
that exists is reused).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
SOURCES = ("reuters21578_modapte.jsonl.gz", "bbc_news.jsonl.gz")
BLOCK = 10_000  # documents drawn from one seeded generator
SEED = 20240605
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")


def sentences_of(text):
    """The sentences of an article, whitespace collapsed."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if len(s) > 1]


def _held_out(doc_id):
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 20 == 0


class SentencePool:
    """The articles of the datasets as sentence lists, grouped by topic, queries held out."""

    def __init__(self, datasets=DEFAULT_DATASETS):
        self.articles, self.queries = [], []
        topics = {}
        for name in SOURCES:
            source = name.split("_")[0].split(".")[0]
            with gzip.open(Path(datasets) / name, "rt", encoding="utf-8") as fh:
                for line in fh:
                    record = json.loads(line)
                    doc_id = f"{source}-{record['id']}"
                    labels = record.get("labels") or [record.get("label")]
                    if _held_out(doc_id):
                        self.queries.append({"id": doc_id, "title": record.get("title") or "",
                                             "text": record["text"]})
                        continue
                    sents = sentences_of(record["text"])
                    if not sents:
                        continue
                    j = len(self.articles)
                    self.articles.append({"title": record.get("title") or "", "sentences": sents,
                                          "topic": f"{source}:{labels[0]}"})
                    topics.setdefault(f"{source}:{labels[0]}", []).append(j)
        self.topic_members = {t: np.asarray(m) for t, m in topics.items()}

    def document(self, rng, j):
        """Generated document number *j*, drawn with *rng*."""
        template = self.articles[rng.integers(len(self.articles))]
        wanted = len(template["sentences"])
        members = self.topic_members[template["topic"]]
        parts = []
        sources = [template] + [self.articles[m] for m in
                                rng.choice(members, size=min(2, len(members)), replace=True)]
        for i, src in enumerate(sources):
            left = wanted - len(parts)
            if left <= 0:
                break
            n = left if i == len(sources) - 1 else int(rng.integers(1, left + 1))
            n = min(n, len(src["sentences"]))
            start = int(rng.integers(len(src["sentences"]) - n + 1))
            parts.extend(src["sentences"][start:start + n])
        return {"id": f"doc-{j:07d}", "title": template["title"], "text": " ".join(parts)}

    def documents(self, n, seed=SEED):
        """Yield the first *n* generated documents."""
        for block in range(0, n, BLOCK):
            rng = np.random.default_rng([seed, block // BLOCK])
            for j in range(block, min(block + BLOCK, n)):
                yield self.document(rng, j)


def corpus_path(n, results=RESULTS):
    """Where the generated corpus of *n* documents is cached."""
    return Path(results) / "corpora" / f"docs-{n}.jsonl"


def build(sizes, datasets=DEFAULT_DATASETS, results=RESULTS, log=print):
    """Write (or reuse) the corpora of the given sizes and the query file; return their paths."""
    folder = Path(results) / "corpora"
    folder.mkdir(parents=True, exist_ok=True)
    pool = None
    queries = folder / "queries.jsonl"
    paths = {}
    for n in sorted(sizes):
        path = corpus_path(n, results)
        if not path.exists():
            pool = pool or SentencePool(datasets)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                for doc in pool.documents(n):
                    fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
            tmp.replace(path)
            log(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB)")
        paths[n] = path
    if not queries.exists():
        pool = pool or SentencePool(datasets)
        with open(queries, "w", encoding="utf-8") as fh:
            for doc in pool.queries:
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return paths, queries


def read_jsonl(path, limit=None):
    """The records of a JSONL file, plain or .gz (the first *limit* only, if given)."""
    out = []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if limit is not None and len(out) >= limit:
                break
            out.append(json.loads(line))
    return out


def parse_sizes(value):
    """'10000,100000' -> [10000, 100000]."""
    return [int(v) for v in value.split(",") if v.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000, 100_000])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    paths, queries = build(args.sizes, args.datasets, args.results)
    for n, path in paths.items():
        print(n, path)
    print("queries", queries)


if __name__ == "__main__":
    main()
