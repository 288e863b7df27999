"""The serving commands of `tagsim`: tag, similar, versions, rollback and serve.

They answer as the HTTP API does, or manage which version it serves; training/cli.py,
the console script, registers them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from model.errors import TagsimError
from model.store import home_path


def register(sub, home):
    """Add the serving commands to *sub*; *home* is the parser of the shared --home."""
    p = sub.add_parser("tag", parents=[home], help="tag one article (text, or JSON with text)")
    p.add_argument("file", nargs="?", help="a file, or - for standard input")
    p.add_argument("--explain", action="store_true", help="add the top terms per label")
    p.add_argument("--threshold", type=threshold_arg, metavar="P|LABEL=P,...",
                   help="fire multi-label labels at probability P instead of their tuned "
                        "thresholds: one number for all, or LABEL=P pairs for some")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N labels per multi-label head, the most probable first")
    p.set_defaults(run=tag)

    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--database-url", metavar="URL",
                          help="postgresql://... document store shared by replicas (default: "
                               "$TAGSIM_DATABASE_URL, else documents.sqlite in the home)")

    p = sub.add_parser("similar", parents=[home, database],
                       help="documents most similar to one article")
    p.add_argument("file", help="a file, or - for standard input")
    p.add_argument("-k", type=int, default=10, help="how many (1-100, default 10)")
    p.add_argument("--terms", type=int, default=10,
                   help="shared terms listed per result (default 10)")
    p.set_defaults(run=similar)

    p = sub.add_parser("rollback", parents=[home],
                       help="point current at the previous version (or --to VERSION)")
    p.add_argument("--to", metavar="VERSION", help="the version to serve (see 'tagsim versions')")
    p.set_defaults(run=rollback)

    p = sub.add_parser("versions", parents=[home], help="list the versions, marking the current one")
    p.set_defaults(run=versions)

    p = sub.add_parser("serve", parents=[home, database], help="serve the HTTP API with gunicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(run=serve)


def threshold_arg(value):
    """``--threshold``: ``0.4`` or ``biomed=0.4,policy=0.6``, as the API's ``threshold``."""
    try:
        if "=" not in value:
            return float(value)
        pairs = [item.split("=", 1) for item in value.split(",")]
        return {label.strip(): float(number) for label, number in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or LABEL=NUMBER pairs separated by commas, got {value!r}") from None


def _read_article(name):
    """(title, text) of a file or stdin holding plain text or a JSON object with text."""
    try:
        raw = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TagsimError(f"{name}: cannot read ({exc})") from None
    if raw.lstrip().startswith("{"):
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            return None, raw
        if not isinstance(doc.get("text"), str):
            raise TagsimError(f"{name}: a JSON article needs a string field 'text'")
        title = doc.get("title")
        if title is not None and not isinstance(title, str):
            raise TagsimError(f"{name}: field 'title' must be a string")
        return title, doc["text"]
    return None, raw


def tag(args):
    """tagsim tag: print the /v1/tag answer for one article."""
    from model.store import load_verified

    model = load_verified(home_path(args.home), with_index=False)
    title, text = _read_article(args.file)
    answer = model.tagger.tag([(title, text)], explain=args.explain, threshold=args.threshold,
                              limit=args.limit)[0]
    print(json.dumps({"model_version": model.version, **answer}, ensure_ascii=False, indent=2))
    return 0


def similar(args):
    """tagsim similar: print the documents most similar to one article."""
    from model.search import Searcher
    from model.store import load_verified, open_documents

    if not 1 <= args.k <= 100:
        raise TagsimError(f"-k must be between 1 and 100, got {args.k}")
    home = home_path(args.home)
    searcher = Searcher(load_verified(home), open_documents(home, args.database_url))
    searcher.sync()
    title, text = _read_article(args.file)
    results = searcher.search(searcher.vectorize(title, text), args.k, terms=max(args.terms, 0))
    print(json.dumps({"model_version": searcher.model.version, "results": results},
                     ensure_ascii=False, indent=2))
    return 0


def rollback(args):
    """tagsim rollback: point current at the previous version, or at --to, verified first."""
    from model.store import ArtifactStore

    store = ArtifactStore(home_path(args.home))
    with store.lock():
        version = store.rollback(args.to)
    print(version)
    return 0


def versions(args):
    """tagsim versions: list the versions, * marking the current one."""
    from model.store import ArtifactStore

    store = ArtifactStore(home_path(args.home))
    current = store.current_version()
    for name in store.list_versions():
        print(("* " if name == current else "  ") + name)
    return 0


def serve(args):
    """tagsim serve: load the current model, then serve the HTTP API with gunicorn."""
    import tempfile

    # Workers share one metrics directory; it must be set before prometheus_client loads,
    # which is why service/__init__.py imports it only inside create_app.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tagsim-metrics-"))
    from service.server import serve

    serve(home_path(args.home), args.host, args.port, args.workers,  # one line if no model loads
          database_url=args.database_url)
    return 0
