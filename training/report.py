"""The human-readable report of a trained version: report.md plus confusion-matrix plots."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from model.store import CONFUSION_PLOT, REPORT_FILE


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


def write_report(folder: Path, manifest: dict, results, thresholds: dict) -> list[str]:
    """Write report.md (and one PNG per single-label head) into *folder*; return file names."""
    folds = manifest["evaluation"]["folds"]
    out = [f"# tagsim model {manifest['version']}", "",
           f"Trained {manifest['created_at']} on `{manifest['dataset']['path']}` "
           f"({manifest['dataset']['records']} records, sha256 "
           f"`{manifest['dataset']['sha256'][:12]}…`).", "",
           f"## Cross-validated metrics ({folds}-fold, whole pipeline refitted per fold)", "",
           metrics_table(results), ""]
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
        if not res.multilabel:
            png = CONFUSION_PLOT.format(head=name)
            plot_confusion(res, folder / png)
            written.append(png)
            out += [f"![{name} confusion matrix]({png})", ""]
    (folder / REPORT_FILE).write_text("\n".join(out), encoding="utf-8")
    return written
