"""Regression report: a sweep's table against a committed baseline (``results/baselines/*.csv``).

Both sides are ``bench table --format csv`` summaries (value and 95 % CI per metric and row).
A metric *changed* when the current value lies outside the baseline's CI; it *regressed*
when it changed downwards and higher is better (accuracy, AUROC). Rows present on one side
only are reported as added / missing.
"""

from __future__ import annotations

import pandas as pd

from entropy_bench.tables import ROW_KEYS, metric_columns

HIGHER_IS_BETTER = ("accuracy", "AUROC ")


def compare(current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """One row per (row keys, metric): baseline value and CI, current value, delta, status."""
    keys = [k for k in ROW_KEYS if k in current and k in baseline]
    merged = current.merge(baseline, on=keys, how="outer", suffixes=("", "_base"), indicator=True)
    out = []
    for metric in [m for m in metric_columns(baseline) if m in current]:
        for _, row in merged.iterrows():
            record = {k: row[k] for k in keys} | {"metric": metric}
            if row["_merge"] != "both":
                status = "added" if row["_merge"] == "left_only" else "missing"
                out.append(record | {"status": status})
                continue
            value, base = row[metric], row[f"{metric}_base"]
            low, high = row[f"{metric}_ci_low_base"], row[f"{metric}_ci_high_base"]
            if pd.isna(value) or pd.isna(base):
                status = "n/a"
            elif low <= value <= high:
                status = "ok"
            elif value < low and metric.startswith(HIGHER_IS_BETTER):
                status = "regressed"
            else:
                status = "changed"
            out.append(record | {"baseline": base, "ci_low": low, "ci_high": high, "current": value,
                                 "delta": value - base, "status": status})
    return pd.DataFrame(out)


def regressions(report: pd.DataFrame) -> pd.DataFrame:
    return report[report["status"].isin(["regressed", "missing"])]
