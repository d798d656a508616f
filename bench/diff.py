"""What differs between two MLflow runs (``bench diff RUN_A RUN_B``): params and metrics.

Any two runs of one store: two cells of a sweep (one decoder against another), a cell before
and after a change, two sweeps' parent runs. Only what differs is listed:

- params (strings): those whose values differ or that one run lacks;
- metrics: a metric ``m`` logged with a CI (``m_ci_low``, ``m_ci_high``; ``metrics.keys``) is one
  row holding its CI, listed when its value or CI differs. Δ = B − A; *outside A's CI* says
  whether B's value lies outside A's CI (``B ∉ [A_low, A_high]``), *outside B's CI* whether A's
  value lies outside B's (blank where that run has no CI for the metric).
"""

from __future__ import annotations

import math

import pandas as pd

from entropy_bench.metrics.keys import CI_SUFFIXES

MISSING = "–"


def load_run(tracking_uri: str, run_id: str, option: str):
    """The run ``run_id`` of the store; an unknown id is an ``InputError`` naming ``option``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from entropy_bench.checks import InputError

    try:
        return MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise InputError(f"invalid {option}: no run {run_id!r} at {tracking_uri}") from None


def param_changes(a: dict[str, str], b: dict[str, str]) -> pd.DataFrame:
    """One row per param whose value differs: ``param``, ``A``, ``B`` (``–`` where a run lacks it)."""
    names = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return pd.DataFrame({"param": names, "A": [a.get(k, MISSING) for k in names],
                         "B": [b.get(k, MISSING) for k in names]})


def _same(x: float | None, y: float | None) -> bool:
    return x == y or (x is not None and y is not None and math.isnan(x) and math.isnan(y))


def _outside(value: float | None, low: float | None, high: float | None) -> str:
    if any(x is None or math.isnan(x) for x in (value, low, high)):
        return ""
    return "yes" if not low <= value <= high else "no"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{low:.4g}, {high:.4g}]"


def metric_changes(a: dict[str, float], b: dict[str, float]) -> pd.DataFrame:
    """One row per metric whose value or CI differs: ``metric``, ``A``, ``B``, ``Δ`` (B − A), each
    run's CI and whether the other run's value lies outside it (module docstring)."""
    keys = a.keys() | b.keys()
    bounds = {f"{m}{s}" for m in keys for s in CI_SUFFIXES if f"{m}{s}" in keys}
    rows = []
    for m in sorted(keys - bounds):
        parts = [m, *(f"{m}{s}" for s in CI_SUFFIXES)]
        if all(_same(a.get(k), b.get(k)) for k in parts):
            continue
        (va, la, ha), (vb, lb, hb) = ([run.get(k) for k in parts] for run in (a, b))
        rows.append({"metric": m, "A": va, "B": vb, "Δ": vb - va if va is not None and vb is not None else None,
                     "CI A": _interval(la, ha), "CI B": _interval(lb, hb),
                     "outside A's CI": _outside(vb, la, ha), "outside B's CI": _outside(va, lb, hb)})
    return pd.DataFrame(rows, columns=["metric", "A", "B", "Δ", "CI A", "CI B", "outside A's CI", "outside B's CI"])


def render(params: pd.DataFrame, metrics: pd.DataFrame, run_a: str, run_b: str) -> str:
    """Both tables as Markdown (numbers to 6 significant digits, Δ signed), under a line naming the
    runs; a line instead of an empty table."""
    metrics = metrics.assign(**{c: metrics[c].map(lambda v, f=f: MISSING if v is None or pd.isna(v) else f"{v:{f}}")
                                for c, f in (("A", ".6g"), ("B", ".6g"), ("Δ", "+.6g"))})
    lines = [f"A = {run_a}, B = {run_b}", ""]
    for title, table in (("params", params), ("metrics", metrics)):
        lines += ([f"{title}: none differ"] if table.empty else
                  [f"## {title} that differ ({len(table)})", "", table.to_markdown(index=False, disable_numparse=True)])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
