"""The entropy-control bandit study: entropy change ≈ −Cov(log π, π·A), collapse under plain
policy gradient, held longer by clip_cov and kl_cov; files and the MLflow run."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from entropy_bench.studies.entropy_control import run_entropy_control, train

STEPS = 60


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entropy_control")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    table = run_entropy_control(tracking_uri=uri, out_dir=tmp / "out", steps=STEPS, seed=0)
    return table, tmp, uri


def test_deterministic():
    first = train("clip_cov", {"clip_cov_ratio": 0.2}, steps=15, seed=3)
    second = train("clip_cov", {"clip_cov_ratio": 0.2}, steps=15, seed=3)
    pd.testing.assert_frame_equal(first, second)


def test_plain_pg_collapses_and_covariance_losses_hold_entropy(study):
    table = study[0].set_index("loss")
    pg = table.loc["policy_gradient"]
    assert pg["final_entropy"] < 0.5 * pg["initial_entropy"]
    assert pg["steps_to_half_entropy"] <= STEPS
    for loss in ("clip_cov", "kl_cov"):
        assert table.loc[loss, "final_entropy"] > pg["final_entropy"]


def test_predicted_entropy_change_matches_measured(study):
    table = study[0].set_index("loss")
    assert table.loc["policy_gradient", "corr_dH_measured_predicted"] > 0.9


def test_files_and_mlflow_run(study):
    table, tmp, uri = study
    out = tmp / "out"
    for name in ("entropy.png", "table.md", "table.csv"):
        assert (out / name).stat().st_size > 0
    assert len(pd.read_csv(out / "table.csv")) == len(table)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("entropy-control")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "entropy/policy_gradient")
    assert len(history) == STEPS + 1
    assert {"entropy/clip_cov", "entropy/kl_cov"} <= set(run.data.metrics)
    assert "entropy.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
