"""`GET /v1/review` with many documents added through the API, on SQLite and on PostgreSQL.

Adds N documents (default 10,000: generated from the corpus' sentences, each scored when
it is added, as the API does) to a copy of the current model's home, then times
`GET /v1/review?head=…&limit=20` through the Flask app: the first call after the adds
(it reads the store's changes once) and the median and 95th percentile of the next 50.
The number of database statements per call is counted too (the queue reads none; a call
makes at most one, asking whether anything changed).

    python bench/review_api.py [--added 10000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from model.records import read_records
from service import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def sentences(path):
    out = []
    for _, record in read_records(path):
        out += [s.strip() + "." for s in record["text"].split(". ") if len(s.split()) >= 6]
    return out


@contextlib.contextmanager
def counted(store):
    """Count the statements the store's dialect runs while the block runs."""
    calls = [0]
    dialect = store.dialect
    original = dialect.transaction

    class Counting:
        def __init__(self, db):
            self.db = db

        def execute(self, *a, **k):
            calls[0] += 1
            return self.db.execute(*a, **k)

    @contextlib.contextmanager
    def transaction(*args, **kwargs):
        with original(*args, **kwargs) as db:
            yield Counting(db)

    dialect.transaction = transaction
    try:
        yield calls
    finally:
        dialect.transaction = original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--added", type=int, default=10_000, help="documents to add (default 10,000)")
    parser.add_argument("--database-url", help="a PostgreSQL database to add them to (default: "
                        "SQLite in the home); it should be empty")
    parser.add_argument("--home", type=Path, default=ROOT / "artifacts",
                        help="the trained home to copy (default artifacts/)")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "articles.jsonl.gz")
    args = parser.parse_args(argv)
    source = (args.home / "current").resolve()
    if not (source / "model.joblib").is_file():
        sys.exit("bench/review_api.py: no trained model: run 'make train' first")
    pool = sentences(args.data)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="tagsim-review-") as tmp:
        home = Path(tmp)
        (home / "versions").mkdir()
        shutil.copytree(source, home / "versions" / source.name)
        (home / "current").symlink_to(Path("versions") / source.name)
        app = create_app({"TESTING": True}, Settings(home=home, database_url=args.database_url))
        client = app.test_client()
        started = time.perf_counter()
        for i in range(args.added):
            text = " ".join(rng.sample(pool, 4))
            response = client.post("/v1/documents", json={"id": f"bench-{i}", "text": text})
            if response.status_code != 201:
                sys.exit(f"bench/review_api.py: adding failed: {response.get_json()}")
        adding = time.perf_counter() - started
        store = app.extensions["tagsim"].documents
        rows = []
        for head in ("agreement_type", "sectors"):
            url = f"/v1/review?head={head}&limit=20"
            with counted(store) as calls:
                t = time.perf_counter()
                first = client.get(url)
                first_ms = (time.perf_counter() - t) * 1000
                first_calls = calls[0]
            assert first.status_code == 200, first.get_json()
            times, counts = [], []
            for _ in range(50):
                with counted(store) as calls:
                    t = time.perf_counter()
                    client.get(url)
                    times.append((time.perf_counter() - t) * 1000)
                counts.append(calls[0])
            times.sort()
            rows.append((head, first_ms, first_calls, statistics.median(times), times[47],
                         max(counts)))
        store.close()
    kind = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{args.added:,} documents added through the API ({kind}) in {adding:.0f} s; "
          "GET /v1/review?limit=20 through the Flask app:\n")
    print("| head | first call ms (statements) | next 50: p50 ms | p95 ms | statements per call |")
    print("|---|---|---|---|---|")
    for head, first_ms, first_calls, p50, p95, per_call in rows:
        print(f"| {head} | {first_ms:.1f} ({first_calls}) | {p50:.1f} | {p95:.1f} | {per_call} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
