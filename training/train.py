"""Train a tagger on a dataset and publish it, with its index and report, as a new version."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import joblib
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from model.errors import InvalidInput
from model.features import TextFeatures
from model.heads import CalibratedLinearHead
from model.manifest import IndexInfo, Manifest
from model.store import MODEL_FILE, ArtifactStore, holding_lock, sha256_of
from model.tagger import Tagger
from model.thresholds import parse_objective
from training.datasets import (
    DEFAULT_TEXT_FIELDS,
    load_dataset,
    with_corrections,
    with_labelled_documents,
)
from training.evaluate import check_trainable, cross_validate, metrics_json
from training.index import write_index
from training.report import metrics_table, write_report

# The lead block (headline and first sentences, 40 words, at half weight) and the tuned
# offset of a "none" class were chosen by 5-fold CV on the authored corpus, where each
# beat the defaults without it on both heads (bench/README.md, "Was anything signed?").
FEATURE_PARAMS = {"word_ngrams": (1, 2), "min_df": 2, "max_df": 0.9, "char_ngrams": None,
                  "wire_shorthand": True, "lead_words": 40, "lead_weight": 0.5}
HEAD_PARAMS = {"C": 2.0, "class_weight": "balanced", "balance": 1.0, "nb_power": 0.75, "cv": 5,
               "threshold_range": (0.1, 0.9), "min_positives": 12, "rare_margin": -0.5,
               "null_label": "none"}
TRAINING_PARAMS = {"view_words": ()}
# With many labels (Reuters' 90 topics) most labels are rare: bigrams and NB scaling then
# add features the rare labels' few examples cannot weigh, and cost 7x the time. Measured
# on Reuters ModApte (bench/README.md); the domain's heads (5 and 8 labels) keep the above.
MANY_LABELS = 30
# Half-way class balancing (balance=0.5) beat full balancing on both micro- and macro-F1 in
# 5-fold CV on Reuters' training split, and fits faster.
MANY_LABEL_PARAMS = {"features": {"word_ngrams": (1, 1), "lead_words": 0},
                     "heads": {"nb_power": 0.0, "C": 1.0, "balance": 0.5}}
LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "flask")
# What `--param` may change: every constructor argument but the ones training decides.
TUNABLE = {"features": set(TextFeatures().get_params()),
           "heads": set(CalibratedLinearHead().get_params()) - {"multilabel", "n_jobs"},
           "training": set(TRAINING_PARAMS)}


def make_tagger(specs, feature_params=None, head_params=None, n_jobs=None, training_params=None):
    """A fresh, unfitted tagger with the project's default settings.

    Defaults are those of `default_params` for *specs*; the given ones override them.
    """
    defaults = default_params(specs)
    features = TextFeatures(**{**defaults["features"], **(feature_params or {})})
    return Tagger(features, specs, {**defaults["heads"], **(head_params or {}), "n_jobs": n_jobs},
                  **{**defaults["training"], **(training_params or {})})


def default_params(specs):
    """The default settings for heads *specs*: the domain's, or those for many labels."""
    params = {"features": dict(FEATURE_PARAMS), "heads": dict(HEAD_PARAMS),
              "training": dict(TRAINING_PARAMS)}
    if many_labels(specs):
        for group, values in MANY_LABEL_PARAMS.items():
            params[group].update(values)
    return params


def many_labels(specs):
    """Whether a head has `MANY_LABELS` labels or more (and so gets `MANY_LABEL_PARAMS`)."""
    return max((len(spec.labels) for spec in specs), default=0) >= MANY_LABELS


def resolve_params(specs, *overrides):
    """The settings a run uses: defaults for *specs*, then each of *overrides* in turn.

    Each override is ``{"features": {...}, "heads": {...}, "training": {...}}`` (any
    group may be missing). Returns the three groups merged.
    """
    params = default_params(specs)
    for override in overrides:
        for group, values in (override or {}).items():
            params[group].update(values)
    return params


def read_params_file(path):
    """The settings in a file written by ``tagsim tune`` (or by hand), checked like --param.

    The file is JSON, ``{"parameters": {"features": {...}, "heads": {...}}, "tuned":
    {...}}``. Returns the settings and the ``tuned`` record (None if there is none).
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not a JSON settings file ({exc})") from exc
    groups = content.get("parameters") if isinstance(content, dict) else None
    if not isinstance(groups, dict):
        raise InvalidInput(f"{path}: expected a JSON object with a 'parameters' object, as "
                           "`tagsim tune` writes")
    params = {}
    for group, values in groups.items():
        if group not in TUNABLE or not isinstance(values, dict):
            raise InvalidInput(f"{path}, field 'parameters.{group}': unknown group; expected one "
                               f"of {', '.join(TUNABLE)}")
        for name, value in values.items():
            if name not in TUNABLE[group]:
                raise InvalidInput(f"{path}, field 'parameters.{group}.{name}': unknown setting; "
                                   f"expected one of {', '.join(sorted(TUNABLE[group]))}")
            params.setdefault(group, {})[name] = tuple(value) if isinstance(value, list) \
                else value
    heads = params.get("heads", {})
    if "class_weight" in heads and "balance" not in heads:
        # Written before `balance` existed, when "balanced" meant balance=1; heads of 30
        # labels or more now default to 0.5, which would change what was tuned.
        heads["balance"] = 1.0
    tuned = content.get("tuned")
    return params, tuned if isinstance(tuned, dict) else None


def parse_params(items):
    """Turn ``["heads.C=1.0", "features.word_ngrams=1,1"]`` into ``{"features": ..., "heads": ...}``.

    Values are JSON (``1.0``, ``null``, ``"balanced"``), a comma-separated list of
    numbers (a tuple), or else a plain string. Raises `InvalidInput` naming the item
    when a name is unknown or a value is not one that setting takes.
    """
    params = {"features": {}, "heads": {}}
    for item in items or ():
        key, sep, raw = item.partition("=")
        group, _, name = key.strip().partition(".")
        if not sep or group not in TUNABLE or name not in TUNABLE[group]:
            known = ", ".join(f"{g}.{n}" for g in TUNABLE for n in sorted(TUNABLE[g]))
            raise InvalidInput(f"--param expects GROUP.NAME=VALUE with one of {known}; got {item!r}")
        value = _param_value(raw.strip())
        problem = _param_problem(group, name, value)
        if problem:
            raise InvalidInput(f"--param {item}: {problem}")
        params.setdefault(group, {})[name] = value
    return params


def _param_problem(group, name, value):
    """Why *value* cannot be setting *name* of *group*, or None."""
    owner = {"features": TextFeatures, "heads": CalibratedLinearHead}.get(group)
    if owner is not None:
        try:
            validate_parameter_constraints({name: owner._parameter_constraints[name]},
                                           {name: value}, caller_name=owner.__name__)
        except InvalidParameterError as exc:
            return str(exc)
    whole = [v for v in value if isinstance(v, int) and not isinstance(v, bool)] \
        if isinstance(value, (tuple, list)) else []
    if name in ("word_ngrams", "char_ngrams") and value is not None and not (
            len(value) == 2 == len(whole) and 1 <= value[0] <= value[1]):
        return f"{name} takes two whole numbers LOW,HIGH with 1 <= LOW <= HIGH (e.g. 1,2)"
    if name == "threshold_range" and not (
            len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and 0 <= value[0] < value[1] <= 1):
        return "threshold_range takes two numbers LOW,HIGH with 0 <= LOW < HIGH <= 1 (e.g. 0.1,0.9)"
    words = [value] if isinstance(value, int) else value
    if name == "view_words" and not (isinstance(words, (tuple, list)) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in words)):
        return "view_words takes whole numbers of words, 1 or more (e.g. 60,120)"
    if name == "threshold_objective":
        try:
            parse_objective(value)
        except ValueError as exc:
            return str(exc)
    return None


def params_origin(specs, params_file=None, tuned=None, params=None):
    """Where a run's settings came from, as the manifest records it."""
    origin = {"defaults": f"many labels (a head has {MANY_LABELS} or more)"
              if many_labels(specs) else "domain"}
    if params_file:
        origin["file"] = {"path": str(params_file), "sha256": sha256_of(Path(params_file))}
        if tuned is not None:
            origin["file"]["tuned"] = tuned
    if params and any(params.values()):
        origin["param"] = {group: values for group, values in params.items() if values}
    return origin


def _param_value(raw):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:
        return tuple(json.loads(f"[{raw}]"))
    except json.JSONDecodeError:
        return raw


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions():
    """Installed versions of the libraries a model depends on."""
    return {name: metadata.version(name) for name in LIBRARIES}


@holding_lock
def train(data, home, text_fields=DEFAULT_TEXT_FIELDS, label_fields=None, where=None, folds=5,
          progress=True, log=print, n_jobs=-1, params=None, allow_empty=False, params_file=None,
          key=None, keep=5, database_url=None, database_timeout=5.0):
    """Validate *data*, cross-validate the pipeline, fit it on everything, publish a version.

    Holds the home's write lock throughout, so a second run fails at once. With the
    default heads, documents added through the API with both labels join the data.
    The settings are the defaults for the data's heads (see `default_params`), then
    those of *params_file* (written by ``tagsim tune``), then *params*
    (``{"features": {...}, "heads": {...}}``, see `parse_params`); the manifest
    records all three. *n_jobs* is the number of cores used (-1: all). Returns the
    published version's manifest; ``current`` changes only once the whole version is
    on disk. *key* seals the version, *keep* versions are kept, and the added documents
    are read from *database_url* (else the home's SQLite) within *database_timeout* s.
    """
    started = time.perf_counter()
    params = params or {}
    file_params, tuned = read_params_file(params_file) if params_file else ({}, None)
    dataset = load_dataset(data, text_fields, label_fields, where=where, allow_empty=allow_empty)
    corrections = {"documents": 0, "per_head": {}, "per_reviewer": {}, "through_seq": 0}
    if label_fields is None:
        where_stored = {"url": database_url, "timeout": database_timeout}
        dataset = with_labelled_documents(dataset, home, log, **where_stored)
        dataset, corrections = with_corrections(dataset, home, log, **where_stored)
    check_trainable(dataset, folds if folds >= 2 else 0)
    log(f"read {len(dataset)} records from {data}; heads: "
        + ", ".join(f"{s.name} ({'multi' if s.multilabel else 'single'}-label, "
                    f"{len(s.labels)} labels)" for s in dataset.specs))
    resolved = resolve_params(dataset.specs, file_params, params)
    feature_params, head_params = resolved["features"], resolved["heads"]
    training_params = resolved["training"]
    origin = params_origin(dataset.specs, params_file, tuned, params)
    log("settings: " + origin["defaults"]
        + (f", then {params_file}" if params_file else "")
        + (", then --param " + " ".join(f"{g}.{n}" for g, v in params.items() for n in v)
           if any(params.values()) else ""))
    def fresh(specs, jobs):
        return make_tagger(specs, feature_params, head_params, jobs, training_params)

    results = {}
    if folds >= 2:
        log(f"cross-validating the pipeline ({folds} folds) and fitting the final model on "
            "all records")
        results, tagger = cross_validate(dataset, fresh, folds=folds, progress=progress,
                                         n_jobs=n_jobs, fit_all=True)
    else:
        log("fitting the final model on all records")
        tagger = fresh(dataset.specs, n_jobs).fit(dataset.texts, dataset.targets)
    with ArtifactStore(home, key, keep).new_version() as staged:
        joblib.dump(tagger, staged.folder / MODEL_FILE)
        index = write_index(staged.folder, tagger, dataset)
        thresholds = {s.name: dict(zip(s.labels, map(float, tagger.heads[s.name].thresholds_),
                                       strict=True))
                      for s in dataset.specs if s.multilabel}
        version = staged.version
        manifest = Manifest(
            version=version,
            dataset={"path": str(data), "sha256": dataset.sha256, "records": len(dataset),
                     "where": where},
            text_fields=list(text_fields),
            heads=tagger.manifest_heads(),
            parameters={"features": feature_params, "heads": head_params,
                        "training": training_params},
            parameters_origin=origin,
            evaluation={"folds": folds, "metrics": metrics_json(results)},
            corrections=corrections,
            index=IndexInfo(len(dataset), int(index.n_terms), str(data), dataset.sha256),
            libraries=library_versions(),
            python=platform.python_version(),
            git_commit=_git_commit(),
            training_seconds=round(time.perf_counter() - started, 1),
        ).as_dict()
        if results:
            tradeoffs = {s.name: (tagger.labels_of(s), tagger.heads[s.name].tradeoff_)
                         for s in dataset.specs
                         if s.multilabel and hasattr(tagger.heads[s.name], "tradeoff_")}
            write_report(staged.folder, manifest, results, thresholds, tradeoffs)
        staged.manifest = manifest
    log(f"published version {version} in {Path(home) / 'versions'} "
        f"({manifest['training_seconds']} s)")
    if results:
        log(metrics_table(results))
    sys.stdout.flush()
    return manifest
