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
  examples both rows share; its CI is the paired bootstrap over those examples
  (``metrics.paired``). A difference whose CI contains 0 is not significant at the 5 % level
  and is marked ``ns`` in the rendered table, which names the test below it (the summary's
  ``attrs["delta_test"]``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from entropy_bench.metrics import keys
from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.metrics.paired import describe_bootstrap, paired_bootstrap
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
        for name, (fn, arrays) in stats.items():
            row[name] = fn(*arrays)
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = bootstrap_ci(
                fn, *arrays, clusters=clusters, n_resamples=n_resamples, seed=seed
            )
        rows.append(row | _delta_vs_reference(examples, group, row_keys, reference, n_resamples, seed))
    summary = pd.DataFrame(rows).sort_values(list(ROW_KEYS), ignore_index=True)
    summary.attrs["delta_test"] = describe_bootstrap(n_resamples)
    return summary


def _delta_vs_reference(examples, group, row_keys, reference, n_resamples, seed) -> dict[str, float]:
    """The paired Δ accuracy against ``reference`` on the examples both rows share, with its CI."""
    ref = examples[
        (examples["model"] == row_keys[0]) & (examples["task"] == row_keys[1]) & (examples["decoder"] == reference)
    ]
    if not len(ref) or row_keys[2] == reference:
        return {}
    ours, theirs = _per_example_accuracy(group), _per_example_accuracy(ref)
    shared = ours.index.intersection(theirs.index).sort_values()
    test = paired_bootstrap(np.mean, (ours[shared].to_numpy(),), (theirs[shared].to_numpy(),),
                            n_resamples=n_resamples, seed=seed)
    return keys.with_ci(keys.delta_column(keys.ACCURACY, reference), test.delta, (test.ci_low, test.ci_high))


def _per_example_accuracy(group: pd.DataFrame) -> pd.Series:
    return group.groupby("id")["correct"].mean()
