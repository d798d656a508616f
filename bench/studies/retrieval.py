"""Passkey retrieval accuracy across context length and needle depth: where does the model lose
the needle?

Builds a generation sweep of ``synthetic_retrieval(kind=passkey, context_tokens=L, depth=d)``
tasks over a grid of lengths L (512 tokens up to the model's context window less the task's
``max_new_tokens``) and depths d, greedy, one prompt per batch (an 8k-token prompt's attention
is the memory), and runs it through the normal runner — cached, resumable, one MLflow child run
per cell. Then:

- ``heatmap.png``: accuracy per (L, d) cell as a heat-map, also logged to the sweep's MLflow
  parent run (``retrieval_heatmap.png``);
- ``table.md`` / ``table.csv``: accuracy with its 95 % bootstrap CI per (L, d).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from entropy_bench import sweep as sweeps
from entropy_bench.metrics import keys
from entropy_bench.methods.registry import split_method_id
from entropy_bench.runner import run_sweep
from entropy_bench.tables import load_examples, summarise

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LENGTHS = (512, 1024, 2048, 4096, 8182)  # 8182 = SmolLM2's 8192 positions less passkey's 10 new tokens
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
ACC = keys.ACCURACY


def sweep_spec(model: str = MODEL, lengths=LENGTHS, depths=DEPTHS, limit: int = 5,
               name: str = "retrieval-heatmap") -> dict:
    """The sweep: one passkey task per (length, depth), greedy, ``limit`` examples each."""
    tasks = [{"name": "synthetic_retrieval", "kind": "passkey", "context_tokens": length, "depth": float(depth),
              "limit": limit} for length in lengths for depth in depths]
    return {"name": name, "models": [model], "tasks": tasks, "decoders": ["greedy"], "batch_size": 1}


def grid(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows as (context_tokens, depth, accuracy with its CI)."""
    params = [dict(split_method_id(task)[1]) for task in summary["task"]]
    out = summary.assign(context_tokens=[int(p["context_tokens"]) for p in params],
                         depth=[float(p["depth"]) for p in params])
    columns = ["context_tokens", "depth", ACC, f"{ACC}_ci_low", f"{ACC}_ci_high"]
    return out[columns].sort_values(["context_tokens", "depth"], ignore_index=True)


def markdown(cells: pd.DataFrame) -> str:
    """The grid as a Markdown table: lengths as integers, the rest to 2 decimals."""
    return cells.astype({"context_tokens": str}).to_markdown(index=False, floatfmt=".2f") + "\n"


def heatmap(cells: pd.DataFrame, title: str):
    """Accuracy as colour, lengths down, depths across, each cell's accuracy written in it."""
    from matplotlib.figure import Figure

    table = cells.pivot(index="context_tokens", columns="depth", values=ACC)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(table.columns)), [f"{d:.0%}" for d in table.columns])
    ax.set_yticks(range(len(table.index)), [str(n) for n in table.index])
    for (i, j), value in pd.DataFrame(table.to_numpy()).stack().items():
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xlabel("needle depth (0 % = start of the haystack)")
    ax.set_ylabel("context length (tokens)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="accuracy")
    fig.tight_layout()
    return fig


def run_retrieval_study(tracking_uri: str | None = None, cache_dir: str | Path = ".bench_cache",
                        out_dir: str | Path = "results/tasks/retrieval", spec: dict | None = None) -> pd.DataFrame:
    """Run the sweep (resumable), log the heat-map to its parent run and write it with the table."""
    import mlflow

    spec = spec or sweep_spec()
    result = run_sweep(sweeps.parse(spec), tracking_uri=tracking_uri, cache_dir=cache_dir, progress=True)
    cells = grid(summarise(load_examples(result.tracking_uri, spec["name"], result.parent_run_id)))
    limit = spec["tasks"][0]["limit"]
    fig = heatmap(cells, f"passkey retrieval, {spec['models'][0]}, greedy, {limit} prompts per cell")
    mlflow.MlflowClient(result.tracking_uri).log_figure(result.parent_run_id, fig, "retrieval_heatmap.png")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "heatmap.png", dpi=120)
    (out / "table.md").write_text(markdown(cells))
    (out / "table.csv").write_text(cells.to_csv(index=False))
    return cells
