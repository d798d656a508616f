"""Entropy-adaptive decoding: task score against estimated compute, one point per threshold.

Runs a sweep whose cells are EAD decoders (by default the shipped ``ead-offline``: a
layer-truncated SmolLM2 as the small model, the full one as the large model) through the normal
runner — cached, resumable, one MLflow child run per threshold — and reads each cell's metrics
back. Per threshold τ:

    accuracy              the task's primary metric (mean over examples, 95 % bootstrap CI)
    large_model_fraction  generated tokens taken from the large model / all generated tokens
    flops_per_example     (Σ_examples flops_estimate) / n, with flops_estimate =
                          2·N_small·C_small + 2·N_large·C_large (see entropy_bench.generation)
    relative_flops        flops_per_example / that of the large model alone

The large model alone is the τ = −inf cell without its small-model part: at τ = −inf every token
comes from the large model, so its output is greedy decoding with the large model, whose cost is
``flops_estimate_large_model``. It is added as a reference row (``threshold`` empty) when the
sweep has τ = −inf. The table goes to ``<out_dir>/curve.csv``, the plot to ``<out_dir>/curve.png``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient

from entropy_bench import sweep as sweeps
from entropy_bench.runner import run_sweep
from entropy_bench.tracking import CELL_TAG


def curve_table(spec: sweeps.SweepSpec, tracking_uri: str, parent_run_id: str) -> pd.DataFrame:
    """One row per cell of ``spec`` under ``parent_run_id`` (module docstring), sorted by cost."""
    cells = {c.key: c for c in sweeps.expand(spec)}
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(spec.name)
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'", max_results=10000
    )
    rows = []
    for run in runs:
        cell, m = cells[run.data.tags[CELL_TAG]], run.data.metrics
        split, metric = cell.task_run.split, cell.task_run.task.primary_metric
        n = m["n_examples"]
        rows.append(dict(
            system="ead",
            model=cell.model,
            large_model=cell.decoder.large_model,
            threshold=cell.decoder.threshold,
            window=cell.decoder.window,
            n_examples=int(n),
            accuracy=m[f"{split}/task/{metric}"],
            accuracy_ci_low=m[f"{split}/task/{metric}_ci_low"],
            accuracy_ci_high=m[f"{split}/task/{metric}_ci_high"],
            large_model_fraction=m[f"{split}/gen/large_model_fraction"],
            mean_tokens=m[f"{split}/gen/mean_tokens"],
            flops_per_example=m["cost/flops_estimate"] / n,
            small_model_flops_per_example=m["cost/flops_estimate_small_model"] / n,
            large_model_flops_per_example=m["cost/flops_estimate_large_model"] / n,
        ))
    table = pd.DataFrame(rows)
    always = table[table["threshold"] == -math.inf]
    if len(always):
        large_alone = always.iloc[0].to_dict() | dict(
            system="large model alone", model=always.iloc[0]["large_model"], threshold=math.nan,
            flops_per_example=always.iloc[0]["large_model_flops_per_example"], small_model_flops_per_example=0.0,
        )
        table = pd.concat([table, pd.DataFrame([large_alone])], ignore_index=True)
        table["relative_flops"] = table["flops_per_example"] / large_alone["flops_per_example"]
    return table.sort_values(["flops_per_example", "system"], ignore_index=True)


def plot_curve(table: pd.DataFrame) -> Figure:
    """Accuracy (95 % CI) against estimated GFLOPs per example; each EAD point labelled with its
    threshold and large-model token fraction."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    ead = table[table["system"] == "ead"]
    err = [ead["accuracy"] - ead["accuracy_ci_low"], ead["accuracy_ci_high"] - ead["accuracy"]]
    ax.errorbar(ead["flops_per_example"] / 1e9, ead["accuracy"], yerr=err, marker="o", capsize=3, label="EAD")
    for _, row in ead.iterrows():
        ax.annotate(f"τ={row['threshold']:g}\nlarge {row['large_model_fraction']:.0%}",
                    (row["flops_per_example"] / 1e9, row["accuracy"]), textcoords="offset points", xytext=(6, -4), fontsize=8)
    for _, row in table[table["system"] != "ead"].iterrows():
        ax.plot(row["flops_per_example"] / 1e9, row["accuracy"], marker="*", markersize=12, linestyle="", label=row["system"])
    first = table[table["system"] == "ead"].iloc[0]
    ax.set(xlabel="estimated GFLOPs per example (2·params·tokens processed)", ylabel="exact match")
    ax.set_title(f"EAD, small: {first['model'].rsplit('/', 1)[-1]}\nlarge: {first['large_model'].rsplit('/', 1)[-1]}", fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def run_ead_study(
    sweep: str = "ead-offline",
    *,
    limit: int | None = None,
    tracking_uri: str | None = None,
    cache_dir: str | Path = ".bench_cache",
    out_dir: str | Path = "results/decoders/ead",
    progress: bool = True,
) -> pd.DataFrame:
    """Run ``sweep`` (a shipped name or a YAML path; ``limit`` overrides its examples per task)
    and write its score-vs-cost curve to ``out_dir`` (module docstring)."""
    spec = sweeps.load(sweep)
    if limit is not None:
        spec = sweeps.parse({**spec.model_dump(), "limit": limit})
    result = run_sweep(spec, tracking_uri=tracking_uri, cache_dir=cache_dir, progress=progress)
    table = curve_table(spec, result.tracking_uri, result.parent_run_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "curve.csv", index=False)
    plot_curve(table).savefig(out / "curve.png", dpi=120)
    return table


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", nargs="?", default="ead-offline")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--out-dir", default="results/decoders/ead")
    args = parser.parse_args()
    print(run_ead_study(args.sweep, limit=args.limit, tracking_uri=args.tracking_uri, out_dir=args.out_dir).to_string())
