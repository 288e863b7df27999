"""Search the pipeline's settings by cross-validation within a time budget (Optuna's TPE).

Each trial cross-validates the whole pipeline on the given data only, with the same
seeded folds for every trial, and is scored by the mean over heads of micro- and
macro-F1 on its out-of-fold predictions. The first trial is the defaults for the data,
so the best settings found are never worse than them on these folds. A trial whose
first folds score below the median of earlier trials at the same fold is stopped
(Optuna's median pruner). The best settings so far are written after every trial that
improves on them, so an interrupted search (Ctrl-C) keeps them.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from model.errors import TagsimError
from model.extras import require
from training.evaluate import Predictions, fit_and_predict, fold_splits, gather, score
from training.train import default_params, make_tagger

OBJECTIVE = "mean over heads of (micro-F1 + macro-F1) / 2, out of fold"
# The smallest useful --budget: the defaults and a few other trials on a small dataset.
# Under it a search compares nothing; `tune` itself takes any budget (the tests use tiny ones).
MIN_BUDGET = 60.0
STOPPED = "stopped"  # a trial the budget ended before its last fold: not pruned, not scored
NGRAMS = {"1,1": (1, 1), "1,2": (1, 2)}


def suggest(trial):
    """The settings of one trial: ``{"features": {...}, "heads": {...}}``."""
    return {
        "features": {
            "word_ngrams": NGRAMS[trial.suggest_categorical("word_ngrams", list(NGRAMS))],
            "min_df": trial.suggest_int("min_df", 1, 5),
        },
        "heads": {
            "C": trial.suggest_float("C", 0.1, 10.0, log=True),
            "nb_power": trial.suggest_float("nb_power", 0.0, 1.0, step=0.25),
            # The rare-label cut: labels with fewer examples fire at an SVM margin.
            "min_positives": trial.suggest_int("min_positives", 3, 30, log=True),
            "rare_margin": trial.suggest_float("rare_margin", -0.8, -0.3, step=0.1),
            # How far to balance each label's classes: 0 is unweighted, 1 fully balanced.
            "balance": trial.suggest_float("balance", 0.0, 1.0, step=0.1),
        },
    }


def as_trial_values(params):
    """The Optuna parameter values that `suggest` turns into *params*."""
    features, heads = params["features"], params["heads"]
    ngrams = ",".join(map(str, features["word_ngrams"]))
    return {"word_ngrams": ngrams if ngrams in NGRAMS else "1,2", "min_df": int(features["min_df"]),
            "C": float(np.clip(heads["C"], 0.1, 10.0)),
            "nb_power": float(np.clip(round(heads["nb_power"] * 4) / 4, 0.0, 1.0)),
            "min_positives": int(np.clip(heads["min_positives"], 3, 30)),
            "rare_margin": float(np.clip(round(heads["rare_margin"] * 10) / 10, -0.8, -0.3)),
            "balance": 0.0 if heads["class_weight"] is None
            else float(np.clip(round(heads["balance"] * 10) / 10, 0.0, 1.0))}


def objective_value(results):
    """The score a trial is ranked by (see `OBJECTIVE`)."""
    return float(np.mean([(r.summary["micro_f1"] + r.summary["macro_f1"]) / 2
                          for r in results.values()]))


def describe(values):
    """One trial's settings on one line."""
    return " ".join(f"{k}={_short(v)}" for k, v in values.items())


def _short(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def tune(dataset, out, budget=600.0, folds=5, trials=None, seed=0, n_jobs=-1, where=None,
         log=print):
    """Search the settings for *dataset* for *budget* seconds; write the best to *out*.

    Returns ``{"best": trial record, "trials": [trial records], "table": Markdown,
    "interrupted": bool}``. Raises `TagsimError` if no trial completed.
    """
    optuna = require("optuna", "tune", "tagsim tune")

    # Optuna logs every trial, and a traceback for one stopped by Ctrl-C; the progress
    # lines below say what a user needs.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    splits = fold_splits(dataset, folds, seed)
    started = time.perf_counter()
    deadline = started + budget
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    study.enqueue_trial(as_trial_values(default_params(dataset.specs)))
    records, state = [], {"best": None, "fold_seconds": []}

    def objective(trial):
        params = suggest(trial)
        trial_started = time.perf_counter()
        predictions, seen = Predictions(), []
        for step, (train, test) in enumerate(splits):
            if time.perf_counter() > deadline:
                study.stop()
                trial.set_user_attr(STOPPED, f"budget spent after {step} of {len(splits)} folds")
                raise optuna.TrialPruned()  # Optuna's only way to end a trial unscored
            fold_started = time.perf_counter()
            part = fit_and_predict(dataset, lambda specs, jobs: make_tagger(
                specs, params["features"], params["heads"], jobs), train, test, n_jobs)
            gather(predictions, part, test, len(dataset))
            state["fold_seconds"].append(time.perf_counter() - fold_started)
            seen.extend(test.tolist())
            trial.report(objective_value(score(dataset, predictions, seen)), step)
            if step + 1 < len(splits) and trial.should_prune():
                raise optuna.TrialPruned(f"below the median after fold {step + 1}")
        results = score(dataset, predictions)
        value = objective_value(results)
        trial.set_user_attr("metrics", {name: {k: r.summary[k] for k in ("micro_f1", "macro_f1")}
                                        for name, r in results.items()})
        trial.set_user_attr("seconds", round(time.perf_counter() - trial_started, 1))
        return value

    def after(study, trial):
        done = trial.state == optuna.trial.TrialState.COMPLETE
        stopped = trial.user_attrs.get(STOPPED)
        record = {"trial": trial.number + 1, "values": dict(trial.params),
                  "state": STOPPED if stopped else trial.state.name.lower(),
                  "score": trial.value if done else None,
                  "metrics": trial.user_attrs.get("metrics", {}),
                  "seconds": trial.user_attrs.get("seconds"),
                  "elapsed": round(time.perf_counter() - started, 1)}
        records.append(record)
        best = state["best"]
        improved = record["score"] is not None and (best is None or record["score"] > best["score"])
        if improved:
            state["best"] = record
            write_params(out, record, dataset, folds, seed, where, len(records),
                         time.perf_counter() - started, optuna.__version__)
        shown = f"score {record['score']:.4f} ({_metrics_line(record['metrics'])})" \
            if record["score"] is not None else (f"{STOPPED}: {stopped}" if stopped else record["state"])
        log(f"trial {record['trial']}: {describe(record['values'])} | {shown} | "
            f"elapsed {record['elapsed']:.0f} s" + (" | best so far" if improved else ""))
        if trials is not None and len(records) >= trials:
            study.stop()

    interrupted = False
    log(f"tuning on {len(dataset)} records, {len(splits)}-fold cross-validation, "
        f"budget {budget:.0f} s; objective: {OBJECTIVE}")
    try:
        study.optimize(objective, timeout=budget, callbacks=[after], catch=())
    except KeyboardInterrupt:
        interrupted = True
        log(f"interrupted: the best settings so far are in {out}" if state["best"]
            else "interrupted before the first trial finished: nothing written")
    if state["best"] is None and interrupted:
        raise KeyboardInterrupt  # nothing to keep; the command line says "interrupted"
    if state["best"] is None:
        raise TagsimError("no trial finished within the budget; " + _budget_advice(
            state["fold_seconds"], len(splits)))
    return {"best": state["best"], "trials": records, "table": trials_table(records),
            "interrupted": interrupted}


def _budget_advice(fold_seconds, folds):
    """What --budget would let a search compare a few trials, from the folds timed so far."""
    if not fold_seconds:
        return f"give a longer --budget, at least {MIN_BUDGET / 60:.0f}m"
    trial = float(np.mean(fold_seconds)) * folds
    minutes = max(MIN_BUDGET / 60, np.ceil(3 * trial / 60))
    return (f"one trial of {folds} folds takes about {trial:.0f} s here; give --budget "
            f"{minutes:.0f}m or more (three trials), or fewer --cv folds")


def _metrics_line(metrics):
    return ", ".join(f"{name} micro {m['micro_f1']:.4f} macro {m['macro_f1']:.4f}"
                     for name, m in metrics.items())


def trial_params(values):
    """The ``{"features", "heads"}`` settings of a trial's Optuna values."""
    return {"features": {"word_ngrams": NGRAMS[values["word_ngrams"]],
                         "min_df": values["min_df"]},
            "heads": {"C": values["C"], "nb_power": values["nb_power"],
                      "min_positives": values["min_positives"],
                      # Optuna's steps of 0.1 come back as 0.6000000000000001
                      "rare_margin": round(values["rare_margin"], 2), "class_weight": "balanced",
                      "balance": round(values["balance"], 2)}}


def write_params(out, record, dataset, folds, seed, where, n_trials, seconds, optuna_version):
    """Write a trial's settings where `tagsim train --params` reads them (atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "parameters": trial_params(record["values"]),
        "tuned": {"data": str(dataset.path), "sha256": dataset.sha256, "where": where,
                  "records": len(dataset), "cv": folds, "seed": seed, "objective": OBJECTIVE,
                  "score": round(record["score"], 6), "metrics": record["metrics"],
                  "trial": record["trial"], "trials_run": n_trials,
                  "seconds": round(seconds, 1), "optuna": optuna_version,
                  "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    staging.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, out)


def trials_table(records):
    """A Markdown table of every trial, best score marked."""
    best = max((r["score"] for r in records if r["score"] is not None), default=None)
    lines = ["| trial | settings | score | metrics | seconds | state |",
             "|---|---|---|---|---|---|"]
    for r in records:
        mark = " **best**" if r["score"] is not None and r["score"] == best else ""
        shown = f"{r['score']:.4f}{mark}" if r["score"] is not None else "–"
        lines.append(f"| {r['trial']} | {describe(r['values'])} | {shown} | "
                     f"{_metrics_line(r['metrics']) or '–'} | "
                     f"{r['seconds'] if r['seconds'] is not None else '–'} | {r['state']} |")
    return "\n".join(lines)
