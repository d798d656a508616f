"""Figures of the classification track.

Per cell (artifacts of its MLflow run):

- ``reliability.png``: a reliability diagram (Guo et al. 2017, Fig. 1) per distinct predictive
  distribution among the cell's measures (the model's softmax, temperature-scaled, MC-dropout
  mean, ensemble mean): accuracy against mean confidence in 15 equal-width bins, bar widths the
  bins, the diagonal perfect calibration, the title its ECE;
- ``risk_coverage.png``: each measure's risk–coverage curve on the test images.

Per sweep (artifacts of the parent run): ``measures.png``, per (task, loss, label noise), each
measure's OOD AUROC and ECE with their intervals over seeds (drawn for up to 4 such groups);
``noise.png`` when the sweep has label noise: accuracy against the noise rate, one line per
loss and noise kind, with intervals over seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from entropy_bench.metrics import classification as cls
from entropy_bench.tracks.classification_rows import N_BINS
from entropy_bench.tracks.generation_plots import risk_coverage_plot

MAX_GROUPS = 4


def cell_figures(columns: dict[str, np.ndarray], predictive: dict[str, np.ndarray], labels: np.ndarray,
                 title: str) -> dict:
    ind = ~columns["is_ood"]
    uq = {m: columns[f"uq:{m}"][ind] for m in predictive}
    correct = {m: columns[f"correct:{m}"][ind] for m in predictive}
    return {"reliability.png": reliability_figure(distinct(predictive), labels, title),
            "risk_coverage.png": risk_coverage_plot(uq, correct, title)}


def distinct(predictive: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The first measure of each distinct predictive distribution, labelled by every measure sharing it."""
    groups: list[tuple[list[str], np.ndarray]] = []
    for measure, p in predictive.items():
        for names, q in groups:
            if p.shape == q.shape and np.array_equal(p, q):
                names.append(measure)
                break
        else:
            groups.append(([measure], p))
    return {", ".join(names): p for names, p in groups}


def reliability_figure(predictive: dict[str, np.ndarray], labels: np.ndarray, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(predictive), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(predictive), squeeze=False)[0])
    for ax, (names, p) in zip(axes, predictive.items()):
        bins = cls.reliability(p, labels, N_BINS)
        filled = bins["count"][:N_BINS] > 0  # the M bins of width 1/M; the last holds confidence 1 alone
        ax.bar(bins["edges"][:N_BINS][filled], bins["accuracy"][:N_BINS][filled], width=1 / N_BINS, align="edge",
               edgecolor="black", linewidth=0.5)
        if bins["count"][N_BINS]:
            ax.plot([1.0], [bins["accuracy"][N_BINS]], marker="o", color="black", markersize=3)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_title(f"{_short(names)}\nECE {cls.ece(p, labels, N_BINS):.3f}", fontsize=7)
    axes[0].set_ylabel("accuracy")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def sweep_figures(summary: pd.DataFrame) -> dict:
    from entropy_bench.tables import short_labels

    figures = {}
    shown = summary.assign(task=summary["task"].map(short_labels(summary["task"])),
                           loss=summary["loss"].map(short_labels(summary["loss"])))
    groups = list(shown.groupby(["task", "loss", "label_noise"], sort=False))
    if len(groups) <= MAX_GROUPS:
        figures["measures.png"] = measures_figure(groups)
    if summary["label_noise"].nunique() > 1:
        figures["noise.png"] = noise_figure(shown)
    return figures


def measures_figure(groups):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, len(groups) * (0.9 + 0.3 * max(len(g) for _, g in groups))), layout="constrained")
    axes = fig.subplots(len(groups), 2, squeeze=False)
    for row, (key, group) in zip(axes, groups):
        y = np.arange(len(group))
        for ax, column in zip(row, ("OOD AUROC", "ECE")):
            value = group[column].to_numpy()
            error = np.abs(np.vstack([value - group[f"{column}_ci_low"], group[f"{column}_ci_high"] - value]))
            ax.barh(y, value, xerr=np.nan_to_num(error), color="tab:blue", alpha=0.8)
            ax.set_yticks(y, [_short(m, 40) for m in group["measure"]], fontsize=6)
            ax.set_title(f"{column}\n{' / '.join(key)}", fontsize=7)
    return fig


def noise_figure(summary: pd.DataFrame):
    """Accuracy vs noise rate (module docstring), from the first measure's rows (accuracy is the
    model's; measures with their own predictive distribution would change it)."""
    from matplotlib.figure import Figure

    first = summary[summary["measure"] == summary["measure"].iloc[0]].copy()
    kind_rate = first["label_noise"].map(noise_kind_rate)
    first["kind"], first["rate"] = kind_rate.str[0], kind_rate.str[1]
    tasks = list(first["task"].unique())
    fig = Figure(figsize=(8 * len(tasks), 4.5), layout="constrained")  # room for the legend outside
    axes = np.atleast_1d(fig.subplots(1, len(tasks), squeeze=False)[0])
    for ax, task in zip(axes, tasks):
        mine = first[first["task"] == task]
        for i, (loss, per_loss) in enumerate(mine.groupby("loss", sort=False)):
            clean = per_loss[per_loss["kind"] == "none"]
            for kind in [k for k in per_loss["kind"].unique() if k != "none"]:
                line = pd.concat([clean, per_loss[per_loss["kind"] == kind]]).sort_values("rate")
                error = np.abs(np.vstack([line["accuracy"] - line["accuracy_ci_low"],
                                          line["accuracy_ci_high"] - line["accuracy"]]))
                ax.errorbar(line["rate"], line["accuracy"], yerr=np.nan_to_num(error), capsize=2,
                            color=f"C{i % 10}" if i < 10 else "black", marker="o" if kind == "symmetric" else "s",
                            linestyle="-" if kind == "symmetric" else ":", label=f"{_short(loss, 45)} {kind}")
        ax.set_xlabel("label noise rate (solid: symmetric, dotted: asymmetric)")
        ax.set_ylabel("test accuracy")
        ax.set_title(task, fontsize=8)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def noise_kind_rate(noise_id: str) -> tuple[str, float]:
    """``("symmetric", 0.4)`` for ``symmetric(rate=0.4)``; ``("none", 0.0)`` for ``none``."""
    if noise_id == "none":
        return "none", 0.0
    kind, _, rest = noise_id.partition("(rate=")
    return kind, float(rest.rstrip(")"))
