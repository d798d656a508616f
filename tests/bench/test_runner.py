"""Runner: a rerun makes zero forward calls and adds no child runs; cached generations are
reused by a fresh tracking store; every cell is logged with all of its params."""

import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.models.pool import Models
from entropy_bench.runner import run_sweep
from entropy_bench.tracking import CELL_TAG, PARENT_ID_TAG

from sweep_fixtures import CountingLoader, tiny_sweep



def children(uri: str, experiment: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if PARENT_ID_TAG in r.data.tags], [r for r in runs if PARENT_ID_TAG not in r.data.tags]


def test_rerun_makes_zero_forward_calls_and_no_new_runs(tiny_model_dir, tmp_path):
    spec = sweep.parse(tiny_sweep(tiny_model_dir))
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cache = tmp_path / "cache"

    first = CountingLoader()
    result = run_sweep(spec, tracking_uri=uri, cache_dir=cache, resources={"models": Models(first)}, progress=False)
    assert first.calls > 0 and result.cells == 2 and result.generated_examples == 12
    kids, parents = children(uri, "tiny")
    assert len(kids) == 2 and len(parents) == 1

    again = CountingLoader()
    result = run_sweep(spec, tracking_uri=uri, cache_dir=cache, resources={"models": Models(again)}, progress=False)
    assert again.calls == 0 and result.skipped == 2 and result.forward_calls == 0
    kids2, parents2 = children(uri, "tiny")
    assert {r.info.run_id for r in kids2} == {r.info.run_id for r in kids} and len(parents2) == 1

    # A new store with the same cache: cells are logged again, but nothing is generated.
    fresh_uri = f"sqlite:///{tmp_path / 'other.db'}"
    third = CountingLoader()
    result = run_sweep(spec, tracking_uri=fresh_uri, cache_dir=cache, resources={"models": Models(third)}, progress=False)
    assert third.calls == 0 and result.generated_examples == 0
    new_kids, _ = children(fresh_uri, "tiny")
    old = {r.data.tags[CELL_TAG]: r.data.metrics for r in kids}
    for run in new_kids:
        assert quality(run.data.metrics) == pytest.approx(quality(old[run.data.tags[CELL_TAG]]))


def quality(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("cost/")}


def test_child_runs_carry_all_cell_params_and_namespaced_metrics(tiny_model_dir, tmp_path):
    spec = sweep.parse(tiny_sweep(tiny_model_dir, seeds=[0, 1]))
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_sweep(spec, tracking_uri=uri, cache_dir=tmp_path / "cache", progress=False)
    kids, parents = children(uri, "tiny")
    cells = {c.key: c for c in sweep.expand(spec)}
    assert len(kids) == len(cells) == 4 and len(parents) == 1
    for run in kids:
        cell = cells[run.data.tags[CELL_TAG]]
        assert run.info.status == "FINISHED"
        assert run.data.tags[PARENT_ID_TAG] == parents[0].info.run_id
        for key, value in cell.params.items():
            assert run.data.params[key] == value
        assert run.data.params["model.source"].startswith("local:")
        assert run.data.tags["model.source"].startswith("local:")
        assert "bench.device" in run.data.tags and "version.torch" in run.data.tags
        metrics = run.data.metrics
        assert 0 <= metrics["test/task/exact_match"] <= 1
        assert metrics["test/task/exact_match_ci_low"] <= metrics["test/task/exact_match"] <= metrics["test/task/exact_match_ci_high"]
        assert "test/uq/max_sequence_prob/mean" in metrics and "test/uq/mean_token_entropy/mean" in metrics
        assert metrics["n_examples"] == 6
        artifacts = [a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id)]
        assert artifacts == ["entropy_trace.png", "per_example.csv", "risk_coverage.png"]
