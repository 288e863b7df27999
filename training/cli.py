"""The `tagsim` command line: train, evaluate, tag (and, with the service, more)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from model.errors import TagsimError

DEFAULT_HOME = "artifacts"


def _home(value):
    return Path(value or os.environ.get("TAGSIM_HOME") or DEFAULT_HOME)


def _fields(value):
    fields = tuple(f.strip() for f in value.split(",") if f.strip())
    if not fields:
        raise argparse.ArgumentTypeError("give at least one field name, e.g. title,text")
    return fields


def build_parser():
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="tagsim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", help="folder of model versions (default: $TAGSIM_HOME or "
                                     "artifacts/)")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", required=True, type=Path, help="JSONL, JSONL.gz or CSV dataset")
    data.add_argument("--label-field", action="append", dest="label_fields", metavar="F",
                      help="a label field to predict (repeatable; default: sectors and "
                           "agreement_type)")
    data.add_argument("--text-fields", type=_fields, default=("title", "text"),
                      help="comma-separated text fields, body last (default: title,text)")
    data.add_argument("--where", metavar="FIELD=VALUE", help="use only records with this value")
    data.add_argument("--allow-empty", action="store_true",
                      help="accept records with an empty body (public benchmarks have some)")
    tuning = argparse.ArgumentParser(add_help=False)
    tuning.add_argument("--param", action="append", dest="params", metavar="GROUP.NAME=VALUE",
                        help="override a pipeline setting, e.g. heads.C=1.0 or "
                             "features.word_ngrams=1,1 (repeatable)")

    p = sub.add_parser("train", parents=[data, home, tuning],
                       help="train and publish a new version")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds for the report "
                                                          "(0 to skip; default 5)")
    p.add_argument("--quiet", action="store_true", help="no progress output")

    p = sub.add_parser("evaluate", parents=[data, home, tuning],
                       help="score the current model on a dataset, or cross-validate with --cv")
    p.add_argument("--cv", type=int, metavar="K",
                   help="cross-validate the whole pipeline on the dataset with K folds instead")
    p.add_argument("--holdout", type=float, metavar="FRACTION",
                   help="or train on the rest and score a held-out share (e.g. 0.2) instead")
    p.add_argument("--seed", type=int, default=0, help="seed of --cv and --holdout (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("tag", parents=[home], help="tag one article (text, or JSON with text)")
    p.add_argument("file", help="a file, or - for standard input")
    p.add_argument("--explain", action="store_true", help="add the top terms per label")

    p = sub.add_parser("similar", parents=[home], help="documents most similar to one article")
    p.add_argument("file", help="a file, or - for standard input")
    p.add_argument("-k", type=int, default=10, help="how many (1-100, default 10)")
    p.add_argument("--terms", type=int, default=10,
                   help="shared terms listed per result (default 10)")

    p = sub.add_parser("index", parents=[home],
                       help="make PATH's documents the similarity corpus of a new version")
    p.add_argument("--data", required=True, type=Path, help="JSONL, JSONL.gz or CSV dataset")
    p.add_argument("--text-fields", type=_fields, default=("title", "text"),
                   help="comma-separated text fields, body last (default: title,text)")

    p = sub.add_parser("rollback", parents=[home],
                       help="point current at the previous version (or --to VERSION)")
    p.add_argument("--to", metavar="VERSION", help="the version to serve (see 'tagsim versions')")

    sub.add_parser("versions", parents=[home], help="list the versions, marking the current one")

    p = sub.add_parser("serve", parents=[home], help="serve the HTTP API with gunicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--workers", type=int, default=2)
    return parser


def cmd_train(args):
    from training.train import parse_params, train

    log = (lambda *_: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    manifest = train(args.data, _home(args.home), args.text_fields, args.label_fields,
                     where=args.where, folds=args.folds, progress=not args.quiet, log=log,
                     params=parse_params(args.params), allow_empty=args.allow_empty)
    print(manifest["version"])
    return 0


def cmd_evaluate(args):
    from training.datasets import load_dataset
    from training.evaluate import cross_validate, evaluate_model, hold_out, metrics_json
    from training.report import metrics_table
    from training.train import make_tagger, parse_params

    params = parse_params(args.params)

    def fresh(specs):
        return make_tagger(specs, params["features"], params["heads"])

    if args.cv is not None or args.holdout is not None:
        if args.cv is not None and args.cv < 2:
            raise TagsimError(f"--cv needs 2 folds or more, got {args.cv}")
        if args.holdout is not None and not 0 < args.holdout < 1:
            raise TagsimError(f"--holdout needs a share between 0 and 1, got {args.holdout}")
        dataset = load_dataset(args.data, args.text_fields, args.label_fields, where=args.where,
                               allow_empty=args.allow_empty)
        if args.cv is not None:
            results = cross_validate(dataset, fresh, folds=args.cv, seed=args.seed,
                                     progress=not args.json)
        else:
            results = hold_out(dataset, fresh, args.holdout, seed=args.seed)
    else:
        from model.store import load_verified

        loaded = load_verified(_home(args.home), with_index=False)
        fields = args.label_fields or [head.name for head in loaded.heads]
        dataset = load_dataset(args.data, loaded.text_fields, fields, where=args.where,
                               allow_empty=args.allow_empty)
        results = evaluate_model(loaded.tagger, dataset)
    print(json.dumps(metrics_json(results)) if args.json else metrics_table(results))
    return 0


def _read_article(name):
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


def cmd_tag(args):
    from model.store import load_verified

    loaded = load_verified(_home(args.home), with_index=False)
    title, text = _read_article(args.file)
    answer = loaded.tagger.tag([(title, text)], explain=args.explain)[0]
    print(json.dumps({"model_version": loaded.version, **answer}, ensure_ascii=False, indent=2))
    return 0


def cmd_similar(args):
    from model.search import Searcher
    from model.store import load_verified, open_documents

    if not 1 <= args.k <= 100:
        raise TagsimError(f"-k must be between 1 and 100, got {args.k}")
    home = _home(args.home)
    searcher = Searcher(load_verified(home), open_documents(home))
    title, text = _read_article(args.file)
    results = searcher.search(searcher.vectorize(title, text), args.k, terms=max(args.terms, 0))
    print(json.dumps({"model_version": searcher.model.version, "results": results},
                     ensure_ascii=False, indent=2))
    return 0


def cmd_index(args):
    from training.index import reindex

    manifest = reindex(args.data, _home(args.home), args.text_fields,
                       log=lambda msg: print(msg, file=sys.stderr))
    print(manifest["version"])
    return 0


def cmd_rollback(args):
    from model.store import ArtifactStore

    store = ArtifactStore(_home(args.home))
    with store.lock():
        version = store.rollback(args.to)
    print(version)
    return 0


def cmd_versions(args):
    from model.store import ArtifactStore

    store = ArtifactStore(_home(args.home))
    current = store.current_version()
    for name in store.list_versions():
        print(("* " if name == current else "  ") + name)
    return 0


def cmd_serve(args):
    import tempfile

    # Workers share one metrics directory; it must be set before prometheus_client loads.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tagsim-metrics-"))
    from service.server import serve

    serve(_home(args.home), args.host, args.port, args.workers)  # one line if no model loads
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "tag": cmd_tag,
            "similar": cmd_similar, "index": cmd_index, "rollback": cmd_rollback,
            "versions": cmd_versions, "serve": cmd_serve}


def main(argv=None):
    """Run one sub-command; errors become one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TagsimError as exc:
        print(f"tagsim {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tagsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
