"""Comparison tables: MLflow child runs → pandas → Markdown / HTML / CSV / LaTeX.

Rows are (model, task, decoder) — method ids; columns are metrics, each shown as
``mean [low, high]``, a 95 % percentile bootstrap CI over examples. The statistics are
recomputed from each run's ``per_example.csv`` artifact, pooling the seeds of a row and
resampling whole examples (all seeds of a drawn example together):

- the task's primary metric (``correct``): mean over rows;
- ``AUROC <measure>``: AUROC of the measure's score for detecting errors (metrics.uq.auroc);
- ``mean entropy``: the mean per-token entropy of the model's distribution (nats), and
  ``mean warped entropy``: of the decoder's output distribution (0 for greedy);
- ``Δ accuracy``: paired difference to a reference decoder of the same (model, task), by
  default ``greedy``: per example, accuracy averaged over seeds, minus the reference's, on the
  examples both rows share; its CI resamples those examples. A difference whose CI excludes
  0 is significant at the 5 % level and is starred in the rendered table.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.metrics.uq import auroc
from entropy_bench.tracking import CELL_TAG, resolve_tracking_uri

ROW_KEYS = ("model", "task", "decoder")
FORMATS = ("md", "html", "csv", "latex")


def load_examples(tracking_uri: str | None, experiment: str, parent_run_id: str | None = None) -> pd.DataFrame:
    """All FINISHED cell runs of ``experiment`` (optionally of one parent), one row per example."""
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise LookupError(f"no MLflow experiment {experiment!r} at {resolve_tracking_uri(tracking_uri)}")
    query = "attributes.status = 'FINISHED'"
    if parent_run_id:
        query += f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in client.search_runs([found.experiment_id], filter_string=query, max_results=50000):
            if CELL_TAG not in run.data.tags:
                continue
            path = client.download_artifacts(run.info.run_id, "per_example.csv", tmp)
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
            for key in (*ROW_KEYS, "seed", "task.name"):
                frame[key] = run.data.params.get(key, "")
            frame["run_id"] = run.info.run_id
            frames.append(frame)
            Path(path).unlink()
    if not frames:
        raise LookupError(f"experiment {experiment!r} has no finished cell runs")
    return pd.concat(frames, ignore_index=True)


def summarise(
    examples: pd.DataFrame, n_resamples: int = 1000, seed: int = 0, reference: str | None = "greedy"
) -> pd.DataFrame:
    """One row per (model, task, decoder): each metric's value and CI (``<m>``, ``<m>_ci_low``,
    ``<m>_ci_high``), plus ``Δ accuracy`` against ``reference`` where that decoder is present."""
    measures = [c for c in examples.columns if c.startswith("uq:")]
    rows = []
    for keys, group in examples.groupby(list(ROW_KEYS), sort=False):
        row = dict(zip(ROW_KEYS, keys))
        row["n"] = group["id"].nunique()
        row["seeds"] = group["seed"].nunique()
        clusters = group["id"].to_numpy()
        correct = group["correct"].to_numpy(dtype=float)
        stats = {"accuracy": (np.mean, (correct,))}
        for m in measures:
            stats[f"AUROC {m[3:]}"] = (auroc, (group[m].to_numpy(dtype=float), correct))
        for column, name in (("mean_entropy", "mean entropy"), ("mean_warped_entropy", "mean warped entropy")):
            if column in group:
                stats[name] = (np.mean, (group[column].to_numpy(dtype=float),))
        ref = examples[
            (examples["model"] == keys[0]) & (examples["task"] == keys[1]) & (examples["decoder"] == reference)
        ]
        if len(ref) and keys[2] != reference:
            ours, theirs = _per_example_accuracy(group), _per_example_accuracy(ref)
            shared = ours.index.intersection(theirs.index)
            delta = (ours[shared] - theirs[shared]).to_numpy()
            stats[f"Δ accuracy vs {reference}"] = (np.mean, (delta,))
            clusters_of = {f"Δ accuracy vs {reference}": shared.to_numpy()}
        else:
            clusters_of = {}
        for name, (fn, arrays) in stats.items():
            row[name] = fn(*arrays)
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = bootstrap_ci(
                fn, *arrays, clusters=clusters_of.get(name, clusters), n_resamples=n_resamples, seed=seed
            )
        rows.append(row)
    return pd.DataFrame(rows).sort_values(list(ROW_KEYS), ignore_index=True)


def _per_example_accuracy(group: pd.DataFrame) -> pd.Series:
    return group.groupby("id")["correct"].mean()


def metric_columns(summary: pd.DataFrame) -> list[str]:
    skip = set(ROW_KEYS) | {"n", "seeds"}
    return [c for c in summary.columns if c not in skip and not c.endswith(("_ci_low", "_ci_high"))]


def display(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``mean [low, high]`` strings; the model column only when the table has several models."""
    out = summary[[k for k in ROW_KEYS if k != "model" or summary["model"].nunique() > 1] + ["n"]].copy()
    for col in metric_columns(summary):
        star = col.startswith("Δ")
        out[col] = [
            "–" if pd.isna(v) else f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{'*' if lo > 0 or hi < 0 else ''}"
            if star else f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
            for v, lo, hi in zip(summary[col], summary[f"{col}_ci_low"], summary[f"{col}_ci_high"])
        ]
    return out


def render(summary: pd.DataFrame, fmt: str = "md") -> str:
    """The table as Markdown, HTML, CSV (numeric, with CI columns) or LaTeX."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return summary.to_csv(index=False)
    shown = display(summary)
    if fmt == "md":
        return shown.to_markdown(index=False)
    if fmt == "html":
        return shown.to_html(index=False, escape=True)
    return shown.to_latex(index=False, escape=True)
