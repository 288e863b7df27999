"""Check a batch of authored articles before it joins the corpus.

What data/LABELS.md promises of every authored article, checked mechanically:
labels from the taxonomy and unique ids; no near-duplicate of the corpus or of the
batch itself (5-word shingles, Jaccard above 0.30); no 12-word span shared with a real
dev set; no capitalised name that occurs in a dev set but nowhere in the corpus so far
(an organisation or person the dev sets report). The dev sets are read in place.

    python bench/corpus_check.py BATCH.jsonl [--data data/articles.jsonl.gz]
                                 [--datasets ../shared/datasets]

Exit 0 when the batch is clean, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from model.features import document_text
from model.records import read_records
from training.datasets import TAXONOMY

_WORDS = re.compile(r"\w+")
_NAME = re.compile(r"\b[A-Z][a-z]{3,}\b")
DEV_SETS = ("real_deals_dev.jsonl", "real_modern_dev.jsonl")


def read(path):
    return [record for _, record in read_records(path)]


def full_text(record):
    return document_text(record.get("title"), record.get("text"))


def shingles(text, n):
    w = _WORDS.findall(text.lower())
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


def label_problems(record):
    out = []
    if not (record.get("text") or "").strip():
        out.append("text is empty")
    if record.get("agreement_type") not in TAXONOMY["agreement_type"]:
        out.append(f"agreement_type {record.get('agreement_type')!r} is not in the taxonomy")
    sectors = record.get("sectors")
    if not isinstance(sectors, list) or set(sectors) - set(TAXONOMY["sectors"]) \
            or len(set(sectors)) != len(sectors):
        out.append(f"sectors {sectors!r} are not distinct taxonomy labels")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("batch", help="JSON Lines of new articles")
    parser.add_argument("--data", default="data/articles.jsonl.gz", help="the corpus so far")
    parser.add_argument("--datasets", default="../shared/datasets",
                        help="folder holding the real dev sets (read in place)")
    args = parser.parse_args(argv)
    devs = [Path(args.datasets) / name for name in DEV_SETS]
    missing = [str(p) for p in devs if not p.is_file()]
    if missing:
        parser.exit(2, f"corpus_check: {missing[0]}: no such file (give --datasets)\n")
    batch, corpus = read(args.batch), read(args.data)
    dev_texts = [full_text(r) for p in devs for r in read(p)]
    dev_spans = set().union(*(shingles(t, 12) for t in dev_texts))
    # A capitalised word the corpus never uses in any case is a name, not an English word.
    corpus_words = {w.lower() for r in corpus for w in _WORDS.findall(full_text(r))}
    dev_names = {n for t in dev_texts for n in _NAME.findall(t) if n.lower() not in corpus_words}
    seen = {r["id"] for r in corpus}
    earlier = [(r["id"], shingles(r["text"], 5)) for r in corpus]
    problems = []
    for record in batch:
        rid = record.get("id")
        where = f"{args.batch}: {rid}"
        if rid in seen:
            problems.append(f"{where}: id is used already")
        seen.add(rid)
        problems += [f"{where}: {p}" for p in label_problems(record)]
        text = full_text(record)
        if shingles(text, 12) & dev_spans:
            problems.append(f"{where}: shares a 12-word span with a dev set")
        names = sorted(set(_NAME.findall(text)) & dev_names)
        if names:
            problems.append(f"{where}: names a dev set uses: {', '.join(names[:5])}")
        mine = shingles(record.get("text") or "", 5)
        for other, theirs in earlier:
            union = len(mine | theirs)
            if union and len(mine & theirs) / union > 0.30:
                problems.append(f"{where}: near-duplicate of {other}")
        earlier.append((rid, mine))
    for line in problems:
        print(line)
    print(f"{len(batch)} articles checked, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
