"""The generation track's comparison table, from the per-example rows of its cells.

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

import numpy as np
import pandas as pd

from entropy_bench.metrics import keys
from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.metrics.uq import auroc

ROW_KEYS = ("model", "task", "decoder")


def summarise(
    examples: pd.DataFrame, n_resamples: int = 1000, seed: int = 0, reference: str | None = "greedy"
) -> pd.DataFrame:
    """One row per (model, task, decoder): each metric's value and CI (``<m>``, ``<m>_ci_low``,
    ``<m>_ci_high``), plus ``Δ accuracy`` against ``reference`` where that decoder is present."""
    measures = [c for c in examples.columns if c.startswith("uq:")]
    rows = []
    for row_keys, group in examples.groupby(list(ROW_KEYS), sort=False):
        row = dict(zip(ROW_KEYS, row_keys))
        row["n"] = group["id"].nunique()
        row["seeds"] = group["seed"].nunique()
        clusters = group["id"].to_numpy()
        correct = group["correct"].to_numpy(dtype=float)
        stats = {keys.ACCURACY: (np.mean, (correct,))}
        for m in measures:
            stats[keys.auroc_column(m[3:])] = (auroc, (group[m].to_numpy(dtype=float), correct))
        for column, name in (("mean_entropy", keys.MEAN_ENTROPY), ("mean_warped_entropy", keys.MEAN_WARPED_ENTROPY)):
            if column in group:
                stats[name] = (np.mean, (group[column].to_numpy(dtype=float),))
        clusters_of = _delta_vs_reference(examples, group, row_keys, reference, stats)
        for name, (fn, arrays) in stats.items():
            row[name] = fn(*arrays)
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = bootstrap_ci(
                fn, *arrays, clusters=clusters_of.get(name, clusters), n_resamples=n_resamples, seed=seed
            )
        rows.append(row)
    return pd.DataFrame(rows).sort_values(list(ROW_KEYS), ignore_index=True)


def _delta_vs_reference(examples, group, row_keys, reference, stats) -> dict:
    """Adds the paired Δ accuracy to ``stats``; returns its clusters (the shared example ids)."""
    ref = examples[
        (examples["model"] == row_keys[0]) & (examples["task"] == row_keys[1]) & (examples["decoder"] == reference)
    ]
    if not len(ref) or row_keys[2] == reference:
        return {}
    ours, theirs = _per_example_accuracy(group), _per_example_accuracy(ref)
    shared = ours.index.intersection(theirs.index)
    name = keys.delta_column(keys.ACCURACY, reference)
    stats[name] = (np.mean, ((ours[shared] - theirs[shared]).to_numpy(),))
    return {name: shared.to_numpy()}


def _per_example_accuracy(group: pd.DataFrame) -> pd.Series:
    return group.groupby("id")["correct"].mean()
