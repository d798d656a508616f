"""The generation track's plots in ``bench report``, drawn from its summary (the comparison table).

One panel per (model, task) of the summary, decoders by :func:`~entropy_bench.tables.compact_id`:

- :func:`accuracy_plot` — accuracy per decoder with its 95 % bootstrap CI as error bars;
- :func:`auroc_forest` — a forest plot: a row per uncertainty measure, one marker per decoder
  at its AUROC (error detection) with the CI as a horizontal bar; the dashed line is chance (0.5);
- :func:`auroc_heatmap` — decoders (rows) × measures (columns), each cell the table's AUROC.

Unlike ``tracks/uq_table.auroc_heatmap`` (which ranks measures from the per-example rows), these
show exactly the numbers of the report's table. The summary's AUROC columns are
``AUROC <measure id>`` (``metrics/keys.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from entropy_bench.metrics import keys
from entropy_bench.tables import compact_id, short_labels

PANEL_KEYS = ("model", "task")
COLUMNS = 3  # panels a row
AUROC_PREFIX = keys.auroc_column("")


def auroc_columns(summary: pd.DataFrame) -> list[str]:
    """The summary's AUROC columns (one per uncertainty measure), in table order."""
    return [c for c in summary.columns if c.startswith(AUROC_PREFIX) and not c.endswith(keys.CI_SUFFIXES)]


def generation_figures(summary: pd.DataFrame) -> dict[str, Figure]:
    """The report's plots of a generation sweep: accuracy always; the AUROC forest plot and
    heat-map when the sweep scores uncertainty measures."""
    figures = {"accuracy.png": accuracy_plot(summary)}
    if auroc_columns(summary):
        figures |= {"auroc_forest.png": auroc_forest(summary), "auroc_heatmap.png": auroc_heatmap(summary)}
    return figures


def _panels(summary: pd.DataFrame, width: float, height: float) -> tuple[Figure, list[tuple[str, pd.DataFrame, Any]]]:
    """A figure with one axis per (model, task), up to :data:`COLUMNS` a row: ``(title, rows, axis)`` each."""
    groups = list(summary.groupby(list(PANEL_KEYS), sort=False))
    tasks = short_labels(summary["task"])
    several_models = summary["model"].nunique() > 1
    cols = min(len(groups), COLUMNS)
    n_rows = -(-len(groups) // cols)
    fig = Figure(figsize=(width * cols, height * n_rows))
    axes = list(fig.subplots(n_rows, cols, squeeze=False).flat)
    panels = []
    for ax, ((model, task), rows) in zip(axes, groups):
        title = f"{str(model).rstrip('/').rsplit('/', 1)[-1]} · {tasks[task]}" if several_models else tasks[task]
        panels.append((title, rows.reset_index(drop=True), ax))
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    return fig, panels


def _ci_errors(values, low, high) -> np.ndarray:
    """Error-bar lengths down and up to the CI bounds (0 where a value lies outside its percentile CI)."""
    values, low, high = (np.asarray(a, dtype=float) for a in (values, low, high))
    return np.maximum(np.stack([values - low, high - values]), 0.0)


def accuracy_plot(summary: pd.DataFrame) -> Figure:
    """Accuracy per decoder, 95 % CI error bars, a panel per (model, task)."""
    acc = keys.ACCURACY
    fig, panels = _panels(summary, width=max(3.5, 0.9 * summary["decoder"].nunique() + 1.5), height=4.2)
    for title, rows, ax in panels:
        x = np.arange(len(rows))
        err = _ci_errors(rows[acc], rows[f"{acc}_ci_low"], rows[f"{acc}_ci_high"])
        ax.errorbar(x, rows[acc], yerr=err, fmt="o", capsize=4, color="tab:blue")
        ax.set_xticks(x, [compact_id(d) for d in rows["decoder"]], rotation=30, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("accuracy (95 % CI)")
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def auroc_forest(summary: pd.DataFrame) -> Figure:
    """AUROC with 95 % CI per measure (rows), one marker per decoder, a panel per (model, task)."""
    columns = auroc_columns(summary)
    fig, panels = _panels(summary, width=5.5, height=1.4 + 0.25 * len(columns) * summary["decoder"].nunique())
    for title, rows, ax in panels:
        spread = 0.6 / max(len(rows), 1)
        for i, row in rows.iterrows():
            y = np.arange(len(columns)) + (i - (len(rows) - 1) / 2) * spread
            values = row[columns].to_numpy(dtype=float)
            err = _ci_errors(values, row[[f"{c}_ci_low" for c in columns]], row[[f"{c}_ci_high" for c in columns]])
            ax.errorbar(values, y, xerr=err, fmt="o", markersize=4, capsize=2, label=compact_id(row["decoder"]))
        ax.axvline(0.5, color="black", linewidth=0.8, linestyle="--")
        ax.set_yticks(range(len(columns)), [c.removeprefix(AUROC_PREFIX) for c in columns], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("AUROC, error detection (95 % CI)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def auroc_heatmap(summary: pd.DataFrame) -> Figure:
    """Decoders (rows) × measures (columns): the table's AUROC, annotated; blank where undefined."""
    columns = auroc_columns(summary)
    fig, panels = _panels(summary, width=2.5 + 1.1 * len(columns), height=1.6 + 0.45 * summary["decoder"].nunique())
    for title, rows, ax in panels:
        grid = rows[columns].to_numpy(dtype=float)
        image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(columns)), [c.removeprefix(AUROC_PREFIX) for c in columns], rotation=30,
                      ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), [compact_id(d) for d in rows["decoder"]], fontsize=7)
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 0.5 else "black")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, label="AUROC")
    fig.tight_layout()
    return fig
