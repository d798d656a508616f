"""The classification track's table: one row per (task, loss, label noise, measure), each metric
of ``classification_rows.METRICS`` computed per seed (cell) and summarised over seeds; the
per-seed values travel in the table's ``attrs["per_seed"]``.

With values v_1 … v_S over S seeds: the mean v̄ and the 95 % Student-t interval
v̄ ± t_{0.975, S−1} · s / √S (s the sample standard deviation), clipped to the metric's range
(an accuracy interval ends at 1): seeds are the replicates that vary everything (split,
initialisation, data order, label noise); NaN with one seed. Metrics that are NaN for some seed (a cell
without errors has no error AUROC) are summarised over the others (``seeds`` counts all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from entropy_bench.tracks import classification_rows as rows_of

ROW_KEYS = ("task", "loss", "label_noise", "measure")
CELL_KEYS = ("task", "loss", "label_noise", "seed")


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the finite ``values``: the Student-t interval (module docstring)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, float(mean - half), float(mean + half)


def per_seed(examples: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, measure): the cell's metrics (columns named as ``METRICS``' keys)."""
    out = []
    for cell, group in examples.groupby(list(CELL_KEYS), sort=False):
        columns = rows_of.columns_of(group)
        for measure in rows_of.measures_of(group.columns):
            if group[f"uq:{measure}"].isna().all():  # a measure another cell of the sweep had
                continue
            out.append(dict(zip(CELL_KEYS, cell)) | {"measure": measure} | rows_of.metrics(columns, measure))
    return pd.DataFrame(out)


def summarise(examples: pd.DataFrame) -> pd.DataFrame:
    """The table (module docstring): display-named metric columns with ``_ci_low``/``_ci_high``."""
    seeds = per_seed(examples)
    rows = []
    for key, group in seeds.groupby(list(ROW_KEYS), sort=False):
        row = dict(zip(ROW_KEYS, key)) | {"seeds": len(group)}
        for metric, (name, (low, high)) in rows_of.METRICS.items():
            mean, ci_low, ci_high = t_interval(group[metric].to_numpy())
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = mean, max(ci_low, low), min(ci_high, high)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["per_seed"] = seeds.to_dict("list")  # the paired claims (classification_claims) read it
    return table
