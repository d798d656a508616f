"""Per-example rows and metrics of the classification track.

A cell evaluates its model on the task's "test" images (in distribution, ID) and "ood" images
together. For every measure m, each row holds

- ``uq:<m>``: the measure's score (higher = more uncertain), on ID and OOD rows;
- on ID rows only (empty on OOD rows), from the measure's predictive distribution p
  (``ClassifierMeasure.predictive``): ``confidence:<m>`` = max_k p_k, ``correct:<m>`` =
  1[argmax p = label], ``nll:<m>`` = −log p_label, ``brier:<m>`` = Σ_k (p_k − 1[k = label])².

:func:`cell_metrics` reduces one cell's rows to, per measure (``bench/metrics/classification.py``
and ``bench/metrics/uq.py``): accuracy, NLL, ECE (15 equal-width bins) and adaptive ECE (15
equal-mass bins), Brier (ID rows, from the predictive distribution); error-detection AUROC and
AURC of the scores on ID rows; OOD AUROC and FPR at 95 % TPR of the scores on the mixed ID + OOD
rows (OOD = positive). The rows hold everything these need, so tables and reports recompute them
from MLflow's ``per_example.csv`` alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from entropy_bench.metrics import classification as cls
from entropy_bench.metrics.bootstrap import percentile_interval
from entropy_bench.metrics.uq import aurc, auroc

N_BINS = 15
COLUMNS = ("uq", "confidence", "correct", "nll", "brier")  # per-measure columns: <column>:<measure>
# metric → (display name, range of values)
METRICS: dict[str, tuple[str, tuple[float, float]]] = {
    "accuracy": ("accuracy", (0.0, 1.0)),
    "nll": ("NLL", (0.0, np.inf)),
    "ece": ("ECE", (0.0, 1.0)),
    "ece_adaptive": ("adaptive ECE", (0.0, 1.0)),
    "brier": ("Brier", (0.0, 2.0)),
    "auroc": ("error AUROC", (0.0, 1.0)),
    "aurc": ("AURC", (0.0, 1.0)),
    "ood_auroc": ("OOD AUROC", (0.0, 1.0)),
    "fpr95": ("FPR@95", (0.0, 1.0)),
}


def example_rows(labels: np.ndarray, n_ood: int, scores: dict[str, np.ndarray],
                 predictive: dict[str, np.ndarray]) -> list[dict]:
    """One row per image (the ``len(labels)`` ID rows, then ``n_ood`` OOD rows); ``scores[m]``
    over all rows, ``predictive[m]`` [n_id, K] over the ID rows."""
    n_id = len(labels)
    rows = [{"id": f"test:{i}", "split": "test", "label": int(labels[i])} for i in range(n_id)]
    rows += [{"id": f"ood:{i}", "split": "ood", "label": -1} for i in range(n_ood)]
    for measure, score in scores.items():
        p = predictive[measure]
        truth = np.zeros_like(p)
        truth[np.arange(n_id), labels] = 1.0
        columns = {
            "confidence": p.max(axis=1),
            "correct": (p.argmax(axis=1) == labels).astype(float),
            "nll": -np.log(p[np.arange(n_id), labels]),
            "brier": ((p - truth) ** 2).sum(axis=1),
        }
        for i, row in enumerate(rows):
            row[f"uq:{measure}"] = float(score[i])
            for name, values in columns.items():
                row[f"{name}:{measure}"] = float(values[i]) if i < n_id else None  # empty in the CSV, NaN when read
    return rows


def measures_of(columns) -> list[str]:
    """The measures of a cell's rows, from their ``uq:<m>`` columns."""
    return [c[len("uq:"):] for c in columns if c.startswith("uq:")]


def columns_of(rows: list[dict] | pd.DataFrame) -> dict[str, np.ndarray]:
    """A cell's rows as arrays by column, with ``is_ood`` (bool) from ``split``."""
    frame = pd.DataFrame(rows)
    columns = {c: frame[c].to_numpy(dtype=float) for c in frame.columns if ":" in c and c.split(":")[0] in COLUMNS}
    return columns | {"is_ood": frame["split"].to_numpy() == "ood"}


def metrics(columns: dict[str, np.ndarray], measure: str) -> dict[str, float]:
    """Every metric of :data:`METRICS` for ``measure`` on one cell's rows (module docstring)."""
    ood = columns["is_ood"]
    ind = ~ood
    score = columns[f"uq:{measure}"]
    confidence, correct = columns[f"confidence:{measure}"][ind], columns[f"correct:{measure}"][ind]
    return {
        "accuracy": float(np.mean(correct)),
        "nll": float(np.mean(columns[f"nll:{measure}"][ind])),
        "ece": cls.top_label_ece(confidence, correct, N_BINS, "equal_width"),
        "ece_adaptive": cls.top_label_ece(confidence, correct, N_BINS, "adaptive"),
        "brier": float(np.mean(columns[f"brier:{measure}"][ind])),
        "auroc": auroc(score[ind], correct),
        "aurc": aurc(score[ind], correct),
        "ood_auroc": cls.ood_auroc(score, ood),
        "fpr95": cls.fpr_at_tpr(score, ood, 0.95),
    }


def metrics_with_ci(columns: dict[str, np.ndarray], measure: str, n_resamples: int = 1000,
                    seed: int = 0) -> dict[str, tuple[float, tuple[float, float]]]:
    """metric → (value, 95 % CI): a stratified percentile bootstrap resampling the ID rows and
    the OOD rows separately (each resample keeps the cell's ID : OOD mix). Binned ECE is biased
    upward on a resample (duplicated rows fill bins unevenly), so its interval can lie above the
    estimate; the table's intervals over seeds have no such bias."""
    ood = np.flatnonzero(columns["is_ood"])
    ind = np.flatnonzero(~columns["is_ood"])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples):
        pick = np.concatenate([rng.choice(ind, len(ind)), rng.choice(ood, len(ood))])
        draws.append(metrics({k: v[pick] for k, v in columns.items()}, measure))
    value = metrics(columns, measure)
    return {m: (value[m], percentile_interval(np.array([d[m] for d in draws], dtype=float))) for m in value}
