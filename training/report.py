"""The human-readable report of a trained version: report.md plus confusion-matrix plots."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from model.store import CONFUSION_PLOT, REPORT_FILE, TRADEOFF_PLOT


@functools.cache
def _pyplot():
    """pyplot on the Agg backend (files only, no display), chosen on the first plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metrics_table(results) -> str:
    """A Markdown table with one row per head."""
    lines = ["| head | kind | accuracy | micro-F1 | macro-F1 | n |", "|---|---|---|---|---|---|"]
    for name, res in results.items():
        s = res.summary
        acc = f"{s['accuracy']:.3f}" if "accuracy" in s else "—"
        kind = "multi-label" if res.multilabel else "single-label"
        lines.append(f"| {name} | {kind} | {acc} | {s['micro_f1']:.3f} | {s['macro_f1']:.3f} "
                     f"| {s['n']} |")
    ranked = {name: res.summary for name, res in results.items() if "ndcg" in res.summary}
    if ranked:
        lines += ["", "| head | P@1 | P@3 | P@5 | NDCG | NDCG@5 | LRAP |", "|---|---|---|---|---|---|---|"]
        for name, s in ranked.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{s[k]:.3f}" for k in ("precision_at_1", "precision_at_3", "precision_at_5",
                                        "ndcg", "ndcg_at_5", "lrap")) + " |")
    return "\n".join(lines)


def errors_table(name, rows) -> str:
    """A Markdown table of the records a head got most wrong (see `worst_records`)."""
    lines = [f"{name}: the {len(rows)} records most wrong", "",
             "| id | title | true | predicted | loss |", "|---|---|---|---|---|"]
    for row in rows:
        true, pred = (", ".join(v) if isinstance(v, list) else v
                      for v in (row["true"], row["predicted"]))
        title = row["title"].replace("|", "/")[:60]
        lines.append(f"| {row['id']} | {title} | {true or '—'} | {pred or '—'} | "
                     f"{row['loss']:.3f} |")
    return "\n".join(lines)


def plot_confusion(result, path: Path) -> None:
    """Save a confusion-matrix PNG of a single-label head."""
    plt = _pyplot()
    size = max(5.0, 0.7 * len(result.labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(confusion_matrix=np.asarray(result.confusion),
                           display_labels=result.labels).plot(ax=ax, xticks_rotation=45,
                                                              colorbar=False, cmap="Blues")
    ax.set_title(f"{result.name}: cross-validated confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tradeoff_section(name, labels, table, thresholds):
    """Markdown: out-of-fold precision / recall of each label at a grid of thresholds."""
    grid = table["grid"]
    out = [f"### {name}: precision / recall by threshold (out of fold)", "",
           "Each cell is precision / recall of the label when it fires at that threshold; "
           "the tuned threshold is in the last column.", "",
           "| label | " + " | ".join(f"{t:.2f}" for t in grid[1::2]) + " | tuned |",
           "|---|" + "---|" * (len(grid[1::2]) + 1)]
    for j, label in enumerate(labels):
        cells = [f"{table['precision'][j, k]:.2f} / {table['recall'][j, k]:.2f}"
                 for k in range(1, len(grid), 2)]
        tuned = thresholds.get(label)
        out.append(f"| {label} | " + " | ".join(cells)
                   + (f" | {tuned:.3f} |" if tuned is not None else " | — |"))
    return out + [""]


def plot_tradeoff(name, labels, table, thresholds, path: Path) -> None:
    """Save a PNG of each label's out-of-fold precision and recall against the threshold."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for j, label in enumerate(labels):
        for ax, key in zip(axes, ("precision", "recall"), strict=True):
            line, = ax.plot(table["grid"], table[key][j], marker=".", label=label)
            if label in thresholds:
                ax.axvline(thresholds[label], color=line.get_color(), linestyle=":", alpha=0.6)
    for ax, key in zip(axes, ("precision", "recall"), strict=True):
        ax.set_xlabel("threshold")
        ax.set_title(f"{name}: {key} (dotted: tuned thresholds)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    if len(labels) <= 12:  # a legend of Reuters' 90 topics would be taller than the figure
        axes[1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def corrections_section(summary) -> list[str]:
    """Markdown: how many reviewers' corrections this training used, per head and per reviewer."""
    out = ["## Reviewers' corrections", ""]
    if not summary.get("documents"):
        return out + ["None used: no document had been reviewed.", ""]
    out += [f"{summary['documents']} documents took labels from a review "
            f"(corrections up to #{summary['through_seq']}).", "",
            "| head | corrections used |", "|---|---|"]
    out += [f"| {head} | {n} |" for head, n in sorted(summary["per_head"].items())]
    out += ["", "| reviewer | corrections used |", "|---|---|"]
    out += [f"| {who} | {n} |" for who, n in sorted(summary["per_reviewer"].items())]
    return out + [""]


def write_report(folder: Path, manifest: dict, results, thresholds: dict,
                 tradeoffs: dict | None = None) -> list[str]:
    """Write report.md (and its PNGs) into *folder*; return the file names.

    *tradeoffs* maps a multi-label head's name to (labels, the head's ``tradeoff_``).
    """
    folds = manifest["evaluation"]["folds"]
    out = [f"# tagsim model {manifest['version']}", "",
           f"Trained {manifest['created_at']} on `{manifest['dataset']['path']}` "
           f"({manifest['dataset']['records']} records, sha256 "
           f"`{manifest['dataset']['sha256'][:12]}…`).", "",
           f"## Cross-validated metrics ({folds}-fold, whole pipeline refitted per fold)", "",
           metrics_table(results), ""]
    out += corrections_section(manifest.get("corrections") or {})
    written = [REPORT_FILE]
    for name, res in results.items():
        out += [f"## {name}", "", "| label | precision | recall | F1 | support |"
                + (" threshold |" if res.multilabel else ""),
                "|---|---|---|---|---|" + ("---|" if res.multilabel else "")]
        for row in res.per_label:
            line = (f"| {row['label']} | {row['precision']:.3f} | {row['recall']:.3f} "
                    f"| {row['f1']:.3f} | {row['support']} |")
            if res.multilabel:
                t = thresholds.get(name, {}).get(row["label"])
                line += f" {t:.3f} |" if t is not None else " — |"
            out.append(line)
        out.append("")
        if res.multilabel and name in (tradeoffs or {}):
            labels, table = tradeoffs[name]
            out += tradeoff_section(name, labels, table, thresholds.get(name, {}))
            png = TRADEOFF_PLOT.format(head=name)
            plot_tradeoff(name, labels, table, thresholds.get(name, {}), folder / png)
            written.append(png)
            out += [f"![{name} precision and recall by threshold]({png})", ""]
        if not res.multilabel:
            png = CONFUSION_PLOT.format(head=name)
            plot_confusion(res, folder / png)
            written.append(png)
            out += [f"![{name} confusion matrix]({png})", ""]
    (folder / REPORT_FILE).write_text("\n".join(out), encoding="utf-8")
    return written
