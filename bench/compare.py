"""Regression report: a sweep's table against a committed baseline (``results/baselines/*.csv``).

Both sides are ``bench table --format csv`` summaries (value and 95 % CI per metric and row).
A metric *changed* when the current value lies outside the baseline's CI; it *regressed*
when it moved the wrong way: down for a higher-is-better column (accuracy, AUROC), up for a
lower-is-better one (an estimator's |bias|, RMSE) — ``metrics.keys`` says which. Rows present
on one side only are reported as added / missing.
"""

from __future__ import annotations

import pandas as pd

from entropy_bench.metrics import keys
from entropy_bench.tables import label_columns, metric_columns

COUNTS = ("n", "seeds")  # label columns that count rather than name a row


def compare(current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """One row per (row keys, metric): baseline value and CI, current value, delta, status."""
    row_keys = [k for k in label_columns(baseline) if k in current and k not in COUNTS]
    merged = current.merge(baseline, on=row_keys, how="outer", suffixes=("", "_base"), indicator=True)
    out = []
    for metric in [m for m in metric_columns(baseline) if m in current]:
        for _, row in merged.iterrows():
            record = {k: row[k] for k in row_keys} | {"metric": metric}
            if row["_merge"] != "both":
                status = "added" if row["_merge"] == "left_only" else "missing"
                out.append(record | {"status": status})
                continue
            value, base = row[metric], row[f"{metric}_base"]
            low, high = row[f"{metric}_ci_low_base"], row[f"{metric}_ci_high_base"]
            out.append(record | {"baseline": base, "ci_low": low, "ci_high": high, "current": value,
                                 "delta": value - base, "status": _status(metric, value, base, low, high)})
    return pd.DataFrame(out)


def _status(metric: str, value: float, base: float, low: float, high: float) -> str:
    if pd.isna(value) or pd.isna(base):
        return "n/a"
    if low <= value <= high:
        return "ok"
    if (value < low and keys.higher_is_better(metric)) or (value > high and keys.lower_is_better(metric)):
        return "regressed"
    return "changed"


def regressions(report: pd.DataFrame) -> pd.DataFrame:
    return report[report["status"].isin(["regressed", "missing"])]
