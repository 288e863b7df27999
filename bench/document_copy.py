"""How long `tagsim documents copy` holds PostgreSQL's writers' lock: N documents copied, then again.

Fills a SQLite store in a temporary home with N added documents (2 KB of text, given
labels, stored scores) and a correction for every third, copies it into a fresh database
on a PostgreSQL server, then runs the copy again (which compares and writes nothing) and
the check a server makes as it starts (`missing_ids`).
The database is dropped at the end.

    python bench/document_copy.py [--docs 10000] [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.document_copy import copy_documents, missing_ids  # noqa: E402
from model.documents import log_change, open_documents  # noqa: E402

TEXT = "A regional bank agreed to lend to a wind farm developer in the north. " * 30
LABELS = json.dumps({"sectors": ["clean_energy"], "agreement_type": "investment"})
SCORES = json.dumps({"agreement_type": {"investment": 0.9, "none": 0.1}})


def fill(store, n):
    """n documents, their scores and a correction for every third, in one SQLite transaction."""
    def work(db):
        now = store.dialect.now()
        db.executemany("INSERT INTO documents (id, title, text, labels, labelled, created_at)"
                       " VALUES (?, ?, ?, ?, 1, ?)",
                       [(f"doc-{i}", f"Wind loan {i}", TEXT, LABELS, now) for i in range(n)])
        for i in range(n):
            log_change(db, f"doc-{i}", "put")
        db.executemany("INSERT INTO scores (id, model_version, scores) VALUES (?, 'v1', ?)",
                       [(f"doc-{i}", SCORES) for i in range(n)])
        db.executemany("INSERT INTO corrections (id, labels, reviewer, created_at)"
                       " VALUES (?, ?, 'bench', ?)",
                       [(f"doc-{i}", '{"agreement_type": "none"}', now) for i in range(0, n, 3)])

    store.run(work, write=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL maintenance database to create the scratch one from")
    args = parser.parse_args(argv)
    import psycopg

    name = "tagsim_bench_copy_" + uuid.uuid4().hex[:8]
    admin = psycopg.connect(args.server, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as home:
            source = open_documents(home)
            target = open_documents(home, args.server.rsplit("/", 1)[0] + "/" + name, timeout=30)
            fill(source, args.docs)
            started = time.perf_counter()
            plan = copy_documents(source, target)
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = copy_documents(source, target)
            second = time.perf_counter() - started
            started = time.perf_counter()
            missing = missing_ids(source, target)
            check = time.perf_counter() - started
            source.close()
            target.close()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    print(f"copied {plan.counts()} in {first:.2f} s ({1000 * first / args.docs:.2f} ms per document)")
    print(f"second run: {again.present} ids already there, nothing written, {second:.2f} s")
    print(f"a server's start-up check: {len(missing)} ids missing, {check:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
