"""``bench study retrieval`` on the tiny model: a sweep over (context length, depth), the
heat-map logged to the sweep's parent run and written with the table."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from entropy_bench.studies.retrieval import grid, run_retrieval_study, sweep_spec
from entropy_bench.tables import load_examples


def test_the_study_covers_the_grid_and_logs_the_heatmap(tiny_model_dir, tmp_path):
    spec = sweep_spec(model=str(tiny_model_dir), lengths=(300, 450), depths=(0.0, 1.0), limit=2, name="retr")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cells = run_retrieval_study(tracking_uri=uri, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", spec=spec)
    assert list(zip(cells["context_tokens"], cells["depth"])) == [(300, 0.0), (300, 1.0), (450, 0.0), (450, 1.0)]
    examples = load_examples(uri, "retr")
    for row in cells.itertuples():  # each cell's accuracy is the mean correctness of its two prompts
        mine = examples[examples["task"].str.contains(f"context_tokens={row.context_tokens},depth={row.depth}")]
        assert len(mine) == 2 and row.accuracy == pytest.approx(mine["correct"].mean())
    assert set(examples["n_tokens"]) <= {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}  # the task's own max_new_tokens
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("retr").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    artifacts = [a.path for a in client.list_artifacts(parent.info.run_id)]
    assert "retrieval_heatmap.png" in artifacts
    assert (tmp_path / "out" / "heatmap.png").stat().st_size > 1000
    assert pd.read_csv(tmp_path / "out" / "table.csv").shape == (4, 5)


def test_grid_reads_length_and_depth_from_the_task_ids():
    summary = pd.DataFrame({"task": ["synthetic_retrieval(context_tokens=512,depth=0.25,kind=passkey,n_examples=100,seed=0)"],
                            "accuracy": [0.5], "accuracy_ci_low": [0.1], "accuracy_ci_high": [0.9]})
    assert grid(summary).iloc[0].to_dict() == {"context_tokens": 512, "depth": 0.25, "accuracy": 0.5,
                                               "accuracy_ci_low": 0.1, "accuracy_ci_high": 0.9}
