"""Regression report: a sweep's table against a committed baseline (``results/baselines/*.csv``).

Both sides are ``bench table --format csv`` summaries (value and 95 % CI per metric and row);
``bench baseline EXPERIMENT NAME`` writes one as ``results/baselines/NAME.csv``, which
``bench compare --baseline NAME`` reads back (:func:`baseline_path`).
A metric *changed* when the current value lies outside the baseline's CI; it *regressed*
when it moved the wrong way: down for a higher-is-better column (accuracy, AUROC), up for a
lower-is-better one (an estimator's |bias|, RMSE) — ``metrics.keys`` says which. Rows present
on one side only are reported as added / missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from entropy_bench.metrics import keys
from entropy_bench.tables import label_columns, metric_columns

COUNTS = ("n", "seeds")  # label columns that count rather than name a row
BASELINES = Path("results/baselines")
BASELINE_NAME = re.compile(r"^[\w-][\w.-]*$")
CHANGES = ("regressed", "changed", "added", "missing")  # the statuses a report lists first


def is_baseline_name(value: str) -> bool:
    """A bare name (``ci-regression``): no directory part, no ``.csv`` suffix, no leading dot."""
    return bool(BASELINE_NAME.match(value)) and not value.endswith(".csv")


def baseline_path(value: str, directory: Path = BASELINES) -> Path:
    """``--baseline``: a bare name (:func:`is_baseline_name`) that names no file here means
    ``directory/NAME.csv``; anything else is a path."""
    return directory / f"{value}.csv" if is_baseline_name(value) and not Path(value).exists() else Path(value)


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
    columns = [*row_keys, "metric", "baseline", "ci_low", "ci_high", "current", "delta", "status"]
    return pd.DataFrame(out, columns=columns)


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


def markdown(report: pd.DataFrame, experiment: str, baseline: Path) -> str:
    """The report of :func:`compare` as a Markdown document: a count per status, the rows that
    changed (outside the baseline's CI, added or missing), then every row."""
    counts = report["status"].value_counts()
    tally = ", ".join(f"{counts[s]} {s}" for s in (*CHANGES, "ok", "n/a") if s in counts)
    lines = [f"# Regression report: {experiment} against {baseline}", "",
             f"{len(report)} values compared: {tally or 'none'}. A metric changed when its current value lies "
             "outside the baseline's 95 % CI; it regressed when it moved the wrong way (down for accuracy and "
             "AUROC, up for |bias| and RMSE).", ""]
    changed = report[report["status"].isin(CHANGES)]
    if len(changed):
        lines += ["## Changed", "", changed.to_markdown(index=False, floatfmt=".3f"), ""]
    lines += ["## All metrics", "", report.to_markdown(index=False, floatfmt=".3f")]
    return "\n".join(lines) + "\n"
