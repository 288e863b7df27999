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

from model.errors import BadOption, TagsimError


def register(sub, home):
    """Add the serving commands to *sub*; *home* is the parser of the shared --home."""
    p = sub.add_parser("tag", parents=[home], help="tag one article (text, or JSON with text)")
    p.add_argument("file", nargs="?", help="a file, or - for standard input")
    p.add_argument("--explain", action="store_true", help="add the top terms per label")
    p.add_argument("--threshold", type=threshold_arg, metavar="P|LABEL=P,...",
                   help="fire multi-label labels at probability P instead of their tuned "
                        "thresholds: one number for all, or LABEL=P pairs for some")
    p.add_argument("--limit", type=_whole(1, 10_000), metavar="N",
                   help="at most N labels per multi-label head, the most probable first")
    add_bulk_tagging(p, tag)

    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--database-url", metavar="URL",
                          help="postgresql://... document store shared by replicas (default: "
                               "$TAGSIM_DATABASE_URL, else documents.sqlite in the home)")

    p = sub.add_parser("similar", parents=[home, database],
                       help="documents most similar to one article")
    p.add_argument("file", help="a file, or - for standard input")
    p.add_argument("-k", type=_whole(1, 100), default=10, help="how many (1-100, default 10)")
    p.add_argument("--terms", type=_whole(0, 10_000), default=10,
                   help="shared terms listed per result, largest first (default 10)")
    p.set_defaults(run=similar)

    p = sub.add_parser("rollback", parents=[home],
                       help="point current at the previous version (or --to VERSION)")
    p.add_argument("--to", metavar="VERSION", help="the version to serve (see 'tagsim versions')")
    p.set_defaults(run=rollback)

    p = sub.add_parser("versions", parents=[home], help="list the versions, marking the current one")
    p.set_defaults(run=versions)

    p = sub.add_parser("review", help="the review queue in and out of Label Studio or JSONL")
    review = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    p = review.add_parser("export", parents=[home, database],
                          help="write the least certain unreviewed documents, with the model's answers")
    p.add_argument("--format", choices=("label-studio", "jsonl"), default="label-studio",
                   help="label-studio: a JSON list of Label Studio tasks with the model's answers "
                        "as predictions; jsonl: one document per line, as 'review import' reads "
                        "it back (default label-studio)")
    p.add_argument("--head", help="the head whose uncertainty orders the queue (default: the first)")
    p.add_argument("--limit", type=_whole(1, 500), default=100, metavar="N",
                   help="how many documents (1-500, default 100)")
    p.add_argument("--out", type=_file_to_write, metavar="FILE",
                   help="write here instead of standard output")
    p.add_argument("--config", type=_file_to_write, metavar="FILE",
                   help="also write the Label Studio labelling interface (XML) for these tasks")
    p.set_defaults(run=review_export)
    p = review.add_parser("import", parents=[home, database],
                          help="apply completed Label Studio annotations or our JSONL as corrections")
    p.add_argument("file", type=Path, help="a Label Studio JSON export, or JSONL")
    p.set_defaults(run=review_import)

    p = sub.add_parser("serve", parents=[home, database], help="serve the HTTP API with Granian")
    p.add_argument("--host", default="127.0.0.1", type=_address,
                   help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 "
                        "is every network: set TAGSIM_API_TOKEN first)")
    p.add_argument("--port", type=_whole(0, 65535),
                   help="port to listen on (default $PORT or 8000)")
    p.add_argument("--workers", type=_whole(1, 64), default=2,
                   help="worker processes, each with $TAGSIM_THREADS threads (default 2; "
                        "about one per core)")
    p.set_defaults(run=serve)


def _whole(low, high):
    """An argparse type: a whole number within [low, high]."""
    def parse(value):
        if not (str(value).isascii() and str(value).isdigit()) or not low <= int(value) <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, "
                                             f"got {value!r}")
        return int(value)
    return parse


def _address(value):
    """``--host``: an IP address (Granian binds no names); localhost stands for 127.0.0.1."""
    import ipaddress

    if value.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address such as 127.0.0.1, ::1 or 0.0.0.0, "
                                         f"got {value!r}") from None


def threshold_arg(value):
    """``--threshold``: ``0.4`` or ``biomed=0.4,policy=0.6``, as the API's ``threshold``."""
    try:
        if "=" not in value:
            threshold = float(value)
            numbers = [threshold]
        else:
            pairs = [item.split("=", 1) for item in value.split(",")]
            threshold = {label.strip(): float(number) for label, number in pairs}
            numbers = list(threshold.values())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or LABEL=NUMBER pairs separated by commas, got {value!r}") from None
    if not all(0.0 <= n <= 1.0 for n in numbers):  # NaN too
        raise argparse.ArgumentTypeError(f"expected probabilities between 0 and 1, got {value!r}")
    return threshold


def _file_to_write(value):
    """An output file's path: not a folder (a missing one is created when written)."""
    if Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a folder; give the file to write")
    return Path(value)


def _folder_to_fill(value):
    """An output folder's path: a folder, or none yet (it is created); not a file."""
    if Path(value).exists() and not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file; give a folder (created if missing)")
    return Path(value)


def _read_article(name):
    """(title, text) of a file or stdin holding plain text or a JSON object with text."""
    where = "standard input" if name == "-" else name
    try:
        raw = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TagsimError(f"{where}: cannot read ({exc})") from None
    if raw.lstrip().startswith("{") or name.lower().endswith(".json"):
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TagsimError(f"{where}, line {exc.lineno}, column {exc.colno}: not valid JSON "
                              f"({exc.msg}); fix it, or give the article as plain text") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            raise TagsimError(f"{where}, field 'text': a JSON article needs a string field 'text'")
        title = doc.get("title")
        if title is not None and not isinstance(title, str):
            raise TagsimError(f"{where}, field 'title': must be a string")
        return title, doc["text"]
    return None, raw


def add_bulk_tagging(parser, one_article):
    """Give `tagsim tag` its file-to-file form (service/bulk.py, on Dask).

    *one_article* runs the one-file form; the parser's FILE becomes optional.
    """
    bulk = parser.add_argument_group("many files to many files, on Dask (instead of FILE)")
    bulk.add_argument("--data", metavar="PATH_OR_GLOB",
                      help="JSONL (.gz), CSV or Parquet files, e.g. 'archive/part-*.jsonl.gz'")
    bulk.add_argument("--out", type=_folder_to_fill, metavar="DIR",
                      help="one output per input file, and errors.jsonl")
    bulk.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl",
                      help="output format (default jsonl)")
    bulk.add_argument("--similar", type=_whole(0, 100), default=0, metavar="K",
                      help="add the K most similar documents to each answer (default 0: none)")
    bulk.add_argument("--scheduler", metavar="ADDRESS",
                      help="an existing Dask scheduler, e.g. tcp://host:8786 (default: a local "
                           "cluster)")
    bulk.add_argument("--workers", type=_whole(1, 1024), metavar="N",
                      help="worker processes of the local cluster (default: one per core)")
    bulk.add_argument("--database-url", metavar="URL",
                      help="the document store --similar searches too (default: "
                           "$TAGSIM_DATABASE_URL, else the home's SQLite)")

    def run(args):
        if args.data is None:
            if args.file is None:
                parser.error("give FILE (or - for standard input), or --data and --out")
            if args.out is not None:
                parser.error("--out goes with --data")
            return one_article(args)
        if args.file is not None:
            parser.error("give FILE or --data, not both")
        if args.out is None:
            parser.error("--data needs --out DIR")
        return tag_files(args)

    parser.set_defaults(run=run)


def tag_files(args):
    """tagsim tag --data: tag every file into --out on Dask; print the run's summary."""
    from service.bulk import bulk_tag

    settings = args.settings
    summary = bulk_tag(args.data, args.out, settings.home, args.format, args.explain,
                       args.similar, args.scheduler, args.workers, settings.database_url,
                       threshold=args.threshold, limit=args.limit, key=settings.artifact_key,
                       database_timeout=settings.database_timeout)
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


def tag(args):
    """tagsim tag: print the /v1/tag answer for one article."""
    from model.language import language_warning
    from model.loaded import load_verified
    from service.bulk import checked_operating_point

    model = load_verified(args.settings.home, with_index=False, key=args.settings.artifact_key)
    checked_operating_point(model.tagger, args.threshold, args.limit)
    title, text = _read_article(args.file)
    answer = model.tagger.tag([(title, text)], explain=args.explain, threshold=args.threshold,
                              limit=args.limit)[0]
    print(json.dumps({"model_version": model.version, **answer, **language_warning(title, text)},
                     ensure_ascii=False, indent=2))
    return 0


def similar(args):
    """tagsim similar: print the documents most similar to one article."""
    searcher = _searcher(args)
    title, text = _read_article(args.file)
    results = searcher.search(searcher.vectorize(title, text), args.k, terms=args.terms)
    print(json.dumps({"model_version": searcher.model.version, "results": results},
                     ensure_ascii=False, indent=2))
    return 0


def _searcher(args):
    from model.documents import open_documents
    from model.loaded import load_verified
    from model.search import Searcher

    settings = args.settings
    searcher = Searcher(load_verified(settings.home, key=settings.artifact_key),
                        open_documents(settings.home, settings.database_url,
                                       settings.database_timeout))
    searcher.sync()
    return searcher


def review_export(args):
    """tagsim review export: the queue as Label Studio tasks or as our JSONL."""
    from service.review_files import export_records, label_config, write_export

    searcher = _searcher(args)
    heads = searcher.model.heads
    head = args.head or heads[0].name
    if head not in [h.name for h in heads]:
        raise BadOption("--head", f"expected one of {', '.join(h.name for h in heads)} (the heads "
                                  f"of {searcher.model.version}), got {head!r}")
    if not searcher.model.scores:
        raise TagsimError(f"version {searcher.model.version} has no stored scores; run "
                          "'tagsim index' or 'make train' to make one that has")
    entries, _, _ = searcher.review_queue(head, args.limit)
    entries = [e | {"text": searcher.text_of(e["id"]), "head": head} for e in entries]
    records = export_records(entries, heads, searcher.model.version, args.format)
    try:
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out:
                write_export(records, args.format, out)
        else:
            write_export(records, args.format, sys.stdout)
        if args.config:
            args.config.write_text(label_config(heads), encoding="utf-8")
    except OSError as exc:
        raise TagsimError(f"{exc.filename}: cannot write ({exc.strerror})") from None
    print(f"exported {len(records)} documents", file=sys.stderr)
    return 0


def review_import(args):
    """tagsim review import: validate every record, then apply the changed ones as corrections."""
    from service.review_files import changed_only, read_corrections

    searcher = _searcher(args)
    heads = searcher.model.heads
    corrections, skipped = read_corrections(args.file, heads, searcher.exists)
    corrections, unchanged = changed_only(
        corrections, heads, lambda doc_id: {h.name: searcher.document(doc_id)[h.name] for h in heads})
    version = searcher.model.version
    if corrections:
        searcher.store.correct([c | {"model_version": version} for c in corrections])
    print(f"applied {len(corrections)} corrections; {unchanged} records unchanged (the labels "
          "stored already)"
          + (f"; skipped {skipped} tasks with no completed annotation" if skipped else ""),
          file=sys.stderr)
    return 0


def rollback(args):
    """tagsim rollback: point current at the previous version, or at --to, verified first."""
    from model.store import ArtifactStore

    store = ArtifactStore(args.settings.home, key=args.settings.artifact_key)
    if args.to is not None and args.to not in store.list_versions():
        raise BadOption("--to", f"no version {args.to!r} in {store.versions}; 'tagsim versions' "
                                "lists them")
    with store.lock():
        version = store.rollback(args.to)
    print(version)
    return 0


def versions(args):
    """tagsim versions: list the versions, * marking the current one."""
    from model.store import ArtifactStore

    store = ArtifactStore(args.settings.home)
    current = store.current_version()
    names = store.list_versions()
    if not names:
        raise TagsimError(f"no versions in {store.home}: train one with 'tagsim train --data PATH "
                          f"--home {store.home}', or give the right --home")
    for name in names:
        print(("* " if name == current else "  ") + name)
    return 0


def _loopback(host):
    """Whether *host* names this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(args):
    """tagsim serve: load the current model, then serve the HTTP API with Granian."""
    import shutil
    import tempfile

    # Workers share one metrics directory; it must be set before prometheus_client loads,
    # which is why service/__init__.py imports it only inside create_app. A directory made
    # here is this server's alone, and removed when it stops.
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tagsim-metrics-")
    from service.protection import bound_hosts
    from service.server import serve

    if not _loopback(args.host) and not args.settings.token_required:
        print(f"tagsim serve: warning: listening on {args.host} with no TAGSIM_API_TOKEN: anyone "
              "who can reach this port can add and delete documents and reload the model; set "
              "TAGSIM_API_TOKEN (and TAGSIM_READ_TOKEN)", file=sys.stderr)
    settings = args.settings
    if settings.allowed_hosts is None:  # the bound address's names (DNS rebinding)
        settings = settings.with_flags(allowed_hosts=",".join(bound_hosts(args.host)))
    try:
        serve(settings, args.host, args.workers)  # one line if no model loads
    finally:
        if made:  # neither the directory nor a variable naming it outlives this server
            shutil.rmtree(made, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return 0
