"""Bias-vs-n plots of the estimation track: one figure per distribution family, a panel per
distribution, a line per estimator with its 95 % CI band."""

from __future__ import annotations

import math
import re

import pandas as pd

from entropy_bench.metrics import keys


def file_name(text: str) -> str:
    """A portable file name for a method id: runs of anything but letters, digits, '.', '-' → '_'."""
    return re.sub(r"[^\w.\-]+", "_", text).strip("_")


def bias_plots(summary: pd.DataFrame) -> dict[str, object]:
    """``{"bias_vs_n/<family>.png": figure}``: bias against n (log axis), each panel with its truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    for family, rows in summary.groupby("family"):
        distributions = sorted(rows["distribution"].unique())
        cols = min(len(distributions), 2)
        fig, axes = plt.subplots(math.ceil(len(distributions) / cols), cols, squeeze=False,
                                 figsize=(6.4 * cols, 4.2 * math.ceil(len(distributions) / cols)))
        for ax, distribution in zip(axes.flat, distributions):
            _panel(ax, rows[rows["distribution"] == distribution], distribution)
        for ax in list(axes.flat)[len(distributions):]:
            ax.set_visible(False)
        fig.tight_layout()
        figures[f"bias_vs_n/{file_name(family)}.png"] = fig
    return figures


def _panel(ax, rows: pd.DataFrame, distribution: str) -> None:
    for estimator, line in rows.groupby("estimator"):
        line = line.sort_values("sample_size")
        ax.plot(line["sample_size"], line[keys.BIAS], marker="o", markersize=3, label=estimator)
        ax.fill_between(line["sample_size"], line[f"{keys.BIAS}_ci_low"], line[f"{keys.BIAS}_ci_high"], alpha=0.15)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("sample size n")
    ax.set_ylabel("bias (estimate − truth)")
    ax.set_title(distribution if len(distribution) < 70 else distribution[:67] + "…", fontsize=8)
    ax.legend(fontsize=6)
