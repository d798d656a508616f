"""Per-cell figures of the generation track, logged as artifacts of the cell's MLflow run (the
MLflow UI shows them beside the run's params):

- ``risk_coverage.png``: each measure's risk–coverage curve (``metrics.uq.risk_coverage``): the
  error rate of the answers kept when only the least uncertain fraction is answered; the area
  under it is the logged ``aurc``. Drawn when the cell has measures.
- ``entropy_trace.png``: the mean per-token entropy of the model's distribution and of the
  decoder's warped one at each generation step, over the answers that reach that step.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from entropy_bench.methods.records import Generation
from entropy_bench.metrics.uq import risk_coverage


def cell_figures(uq: dict[str, np.ndarray], correct: np.ndarray, generations: Sequence[Generation], title: str) -> dict:
    """The cell's figures by artifact name (module docstring)."""
    figures = {"entropy_trace.png": entropy_trace(generations, title)}
    if uq:
        figures["risk_coverage.png"] = risk_coverage_plot(uq, correct, title)
    return figures


def step_means(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Mean over the rows that reach each step: ``[mean of rows[i][t] for t in 0 … longest − 1]``."""
    longest = max((len(r) for r in rows), default=0)
    padded = np.full((len(rows), longest), np.nan)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = row
    return np.nanmean(padded, axis=0) if longest else np.zeros(0)


def entropy_trace(generations: Sequence[Generation], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    for name, rows in (("model", [g.entropy for g in generations]), ("warped", [g.warped_entropy for g in generations])):
        means = step_means(rows)
        ax.plot(np.arange(1, len(means) + 1), means, label=f"{name} distribution")
    return _finished(fig, ax, "generation step", "mean token entropy (nats)", title)


def risk_coverage_plot(uq: dict[str, np.ndarray], correct: np.ndarray | dict[str, np.ndarray], title: str):
    """Risk–coverage curves of the measures ``uq``; ``correct`` is one array for all of them, or
    one per measure (a classifier measure's answers are those of its own predictive distribution)."""
    from matplotlib.figure import Figure

    correct_of = correct if isinstance(correct, dict) else dict.fromkeys(uq, correct)
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    for measure, scores in uq.items():
        coverage, risk = risk_coverage(scores, correct_of[measure])
        ax.plot(coverage, risk, label=measure)
    for rate in sorted({1 - float(np.mean(c)) for c in correct_of.values()}):
        ax.axhline(rate, color="black", linewidth=0.8, linestyle="--")
    return _finished(fig, ax, "coverage (fraction answered, least uncertain first)",
                     "risk (error rate of the answered; dashed: all answered)", title)


def _finished(fig, ax, xlabel: str, ylabel: str, title: str):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
