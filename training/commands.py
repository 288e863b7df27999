"""The training commands of `tagsim`: train, evaluate and index (registered by training/cli.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from model.errors import BadOption, InvalidInput


def _fields(value):
    fields = tuple(f.strip() for f in value.split(",") if f.strip())
    if not fields:
        raise argparse.ArgumentTypeError("give at least one field name, e.g. title,text")
    return fields


def _folds(value):
    """``--folds``: 0 (no cross-validation) or 2 or more."""
    if not (value.isascii() and value.isdigit()) or int(value) == 1:
        raise argparse.ArgumentTypeError(f"expected 0 (no cross-validation) or a whole number of "
                                         f"2 or more, got {value!r}")
    return int(value)


def _cv_folds(value):
    """``--cv``: 2 folds or more."""
    if not (value.isascii() and value.isdigit()) or int(value) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of folds, 2 or more, "
                                         f"got {value!r}")
    return int(value)


def _share(value):
    """``--holdout``: a share strictly between 0 and 1."""
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 < share < 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1 such as 0.2, "
                                         f"got {value!r}")
    return share


def _where(value):
    """``--where``: FIELD=VALUE."""
    name, sep, _ = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE such as split=train, got {value!r}")
    return value


def _other_records(where, trained_where):
    """Whether filter *where* surely reads none of the records *trained_where* read.

    Only the same field with another value (split=test after split=train) is sure; no
    filter, or a filter on another field, can read training records.
    """
    from model.records import parse_where

    now, then = parse_where(where), parse_where(trained_where)
    return bool(now and then) and now[0] == then[0] and now[1] != then[1]


def _param(value):
    """``--param``: GROUP.NAME=VALUE, with a known name and a value that setting takes."""
    from training.train import parse_params

    try:
        parse_params([value])
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--param ")) from None
    return value


def _count(value):
    """A whole number, 0 or more."""
    if not (value.isascii() and value.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {value!r}")
    return int(value)


def _jobs(value):
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n == 0 or n < -1:
        raise argparse.ArgumentTypeError(f"expected a number of cores, or -1 for all; got {value!r}")
    return n


def _budget(value):
    """``--budget``: a time such as 90s, 10m or 1h, at least the smallest useful one."""
    from training.tune import MIN_BUDGET

    units = {"s": 1, "m": 60, "h": 3600}
    text = value.strip().lower()
    unit = units.get(text[-1:], None)
    try:
        seconds = float(text[:-1] if unit else text) * (unit or 1)
    except ValueError:
        seconds = -1
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a time such as 90s, 10m or 1h; got {value!r}")
    if seconds < MIN_BUDGET:
        raise argparse.ArgumentTypeError(
            f"give at least {MIN_BUDGET / 60:.0f}m, time for the defaults and a few other trials "
            f"on a small dataset (a larger one needs more); got {value!r}")
    return seconds


def _settings_file(value):
    """``tune --out``: the file the best settings go to, not a folder."""
    if Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a folder; give the file to write the "
                                         f"settings to, e.g. {value}/tuned-params.json")
    return Path(value)


def _positive(value):
    """A whole number, 1 or more."""
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {value!r}")
    return int(value)


def _objective(value):
    from model.thresholds import parse_objective

    try:
        parse_objective(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def register(sub, home):
    """Add train, evaluate and index to *sub*; *home* is the parser of the shared --home."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", required=True, type=Path,
                      help="JSONL, CSV (either may be .gz) or Parquet dataset")
    data.add_argument("--label-field", action="append", dest="label_fields", metavar="F",
                      help="a label field to predict (repeatable; default: sectors and "
                           "agreement_type)")
    data.add_argument("--text-fields", type=_fields, default=("title", "text"),
                      help="comma-separated text fields, body last (default: title,text)")
    data.add_argument("--where", metavar="FIELD=VALUE", type=_where,
                      help="use only records with this value")
    data.add_argument("--allow-empty", action="store_true",
                      help="accept records with no text in any text field (public benchmarks "
                           "have some)")
    tuning = argparse.ArgumentParser(add_help=False)
    tuning.add_argument("--param", action="append", dest="params", metavar="GROUP.NAME=VALUE",
                        type=_param,
                        help="override a pipeline setting, e.g. heads.C=1.0 or "
                             "features.word_ngrams=1,1 (repeatable)")
    tuning.add_argument("--params", dest="params_file", type=Path, metavar="FILE",
                        help="settings written by `tagsim tune` (--param overrides them)")
    jobs = argparse.ArgumentParser(add_help=False)
    jobs.add_argument("--jobs", type=_jobs, default=-1, metavar="N",
                      help="cores to use (default: all)")

    p = sub.add_parser("train", parents=[data, home, tuning, jobs],
                       help="train and publish a new version")
    p.add_argument("--folds", type=_folds, default=5,
                   help="cross-validation folds for the report (0 to skip; default 5)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--threshold-objective", type=_objective, metavar="f1|precision:P|recall:R",
                   help="what each multi-label threshold is tuned for: F1 (default), the most "
                        "recall at precision P, or the most precision at recall R")
    p.set_defaults(run=train)

    p = sub.add_parser("evaluate", parents=[data, home, tuning, jobs],
                       help="score the current model on a dataset, or cross-validate with --cv")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--cv", type=_cv_folds, metavar="K",
                     help="cross-validate the whole pipeline on the dataset with K folds instead")
    how.add_argument("--holdout", type=_share, metavar="FRACTION",
                     help="or train on the rest and score a held-out share (e.g. 0.2) instead")
    p.add_argument("--seed", type=_count, default=0, help="seed of --cv and --holdout (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object, per-label "
                                                        "figures included")
    p.add_argument("--errors", type=_count, default=0, metavar="N",
                   help="also list the N records each head got most wrong")
    p.set_defaults(run=evaluate)

    p = sub.add_parser("tune", parents=[data, home, jobs],
                       help="search the settings by cross-validation; write the best to a file")
    p.add_argument("--budget", type=_budget, default=600.0, metavar="TIME",
                   help="time to search, e.g. 90s, 10m or 1h; at least 1m (default 10m)")
    p.add_argument("--cv", type=_cv_folds, default=5, metavar="K",
                   help="cross-validation folds of each trial (default 5)")
    p.add_argument("--trials", type=_positive, metavar="N",
                   help="stop after N trials (default: none)")
    p.add_argument("--out", type=_settings_file, metavar="FILE",
                   help="where to write the best settings (default: HOME/tuned-params.json)")
    p.add_argument("--seed", type=_count, default=0, help="seed of the search and the folds")
    p.set_defaults(run=tune)

    p = sub.add_parser("index", parents=[home],
                       help="make PATH's documents the similarity corpus of a new version")
    p.add_argument("--data", required=True, type=Path,
                   help="JSONL, CSV (either may be .gz) or Parquet dataset")
    p.add_argument("--text-fields", type=_fields, default=("title", "text"),
                   help="comma-separated text fields, body last (default: title,text)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="vectorise on the Dask cluster at ADDRESS (e.g. tcp://host:8786); "
                        "the index is the same, bit for bit")
    p.set_defaults(run=index)


def train(args):
    """tagsim train: fit and publish a version, print its name."""
    from training.train import parse_params, train

    log = (lambda *_: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    params = parse_params(args.params)
    if args.threshold_objective:
        params["heads"]["threshold_objective"] = args.threshold_objective
    with fitting(args.data):
        manifest = train(args.data, args.settings.home, args.text_fields, args.label_fields,
                         where=args.where, folds=args.folds, progress=not args.quiet, log=log,
                         params=params, allow_empty=args.allow_empty,
                         n_jobs=args.jobs, params_file=args.params_file,
                         **_store_settings(args.settings))
    print(manifest["version"])
    return 0


def _store_settings(settings):
    """The keyword arguments of `train` that come from the settings."""
    return {"key": settings.artifact_key, "keep": settings.keep_versions,
            "database_url": settings.database_url, "database_timeout": settings.database_timeout}


def evaluate(args):
    """tagsim evaluate: score the current model, or cross-validate / hold out on the data."""
    from training.datasets import load_dataset
    from training.evaluate import (
        check_trainable,
        cross_validate,
        evaluate_model,
        hold_out,
        metrics_json,
    )
    from training.report import errors_table, metrics_table
    from training.train import make_tagger, parse_params, read_params_file, resolve_params

    params = parse_params(args.params)
    if args.cv is not None or args.holdout is not None:
        file_params = read_params_file(args.params_file)[0] if args.params_file else {}
        dataset = load_dataset(args.data, args.text_fields, args.label_fields, where=args.where,
                               allow_empty=args.allow_empty)
        check_trainable(dataset, args.cv or 0, "--cv")
        settings = resolve_params(dataset.specs, file_params, params)

        def fresh(specs, jobs):
            return make_tagger(specs, settings["features"], settings["heads"], jobs,
                               settings["training"])

        with fitting(args.data):
            if args.cv is not None:
                results, predictions = cross_validate(
                    dataset, fresh, folds=args.cv, seed=args.seed, progress=not args.json,
                    n_jobs=args.jobs, with_predictions=True)
            else:
                results, predictions = hold_out(dataset, fresh, args.holdout, seed=args.seed,
                                                n_jobs=args.jobs)
                held = {i for i, row in enumerate(predictions.predicted[dataset.specs[0].name])
                        if row is not None}
                dataset = dataset.subset(sorted(held))
                predictions = predictions.subset(sorted(held))
    else:
        from model.loaded import load_verified

        if args.params or args.params_file:
            raise BadOption("--param" if args.params else "--params",
                            "only applies with --cv or --holdout; the current model keeps the "
                            "settings it was trained with")
        loaded = load_verified(args.settings.home, with_index=False,
                               key=args.settings.artifact_key)
        heads = {head.name: head.labels for head in loaded.heads}
        unknown = [f for f in args.label_fields or () if f not in heads]
        if unknown:
            raise BadOption("--label-field", f"{unknown[0]}: the model in "
                            f"{loaded.folder.parent.parent} has no such head; its heads are "
                            f"{', '.join(heads)}")
        dataset = load_dataset(args.data, loaded.text_fields, args.label_fields or list(heads),
                               where=args.where, allow_empty=args.allow_empty, labels=heads)
        trained = loaded.manifest.get("dataset", {})
        if dataset.sha256 == trained.get("sha256") and not _other_records(
                args.where, trained.get("where")):
            print(f"tagsim evaluate: warning: {args.data} is the data version {loaded.version} was "
                  "trained on, so these scores are optimistic; score held-out data, or use --cv "
                  "K or --holdout F", file=sys.stderr)
        results, predictions = evaluate_model(loaded.tagger, dataset)
    errors = _errors(dataset, predictions, args.errors) if args.errors else {}
    if args.json:
        out = metrics_json(results, per_label=True)
        for name, rows in errors.items():
            out[name]["errors"] = rows
        print(json.dumps(out))
    else:
        print(metrics_table(results))
        for name, rows in errors.items():
            print(f"\n{errors_table(name, rows)}")
    return 0


@contextlib.contextmanager
def fitting(data):
    """Report what the estimators refuse in *data* (no terms left, one class...) in one line."""
    try:
        yield
    except InvalidInput:
        raise
    except ValueError as exc:
        raise InvalidInput(f"{data}: cannot fit the model on this data: {exc}") from None


def _errors(dataset, predictions, n):
    from training.evaluate import worst_records

    return {name: worst_records(dataset, name, predictions.predicted[name],
                                predictions.scores[name], predictions.labels[name], n)
            for name in predictions.predicted if name in dataset.targets}


def tune(args):
    """tagsim tune: search the settings within a time budget; write the best to a file."""
    from model.extras import require
    from training.datasets import load_dataset
    from training.tune import tune

    require("optuna", "tune", "tagsim tune")  # before the data is read
    dataset = load_dataset(args.data, args.text_fields, args.label_fields, where=args.where,
                           allow_empty=args.allow_empty)
    out = args.out or args.settings.home / "tuned-params.json"
    result = tune(dataset, out, budget=args.budget, folds=args.cv, trials=args.trials,
                  seed=args.seed, n_jobs=args.jobs, where=args.where,
                  log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(result["table"])
    print(f"\nbest settings written to {out}; use them with: tagsim train --params {out} ...")
    return 130 if result["interrupted"] else 0


def index(args):
    """tagsim index: publish the current model with the data as its similarity corpus."""
    from model.cluster import require_distributed
    from training.index import reindex

    if args.scheduler:
        require_distributed(args.scheduler)  # before any work, not after the model has loaded
    manifest = reindex(args.data, args.settings.home, args.text_fields,
                       log=lambda msg: print(msg, file=sys.stderr), scheduler=args.scheduler,
                       key=args.settings.artifact_key, keep=args.settings.keep_versions)
    print(manifest["version"])
    return 0
