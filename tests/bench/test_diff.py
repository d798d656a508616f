"""``bench diff RUN_A RUN_B``: only the params and metrics that differ, deltas, and CI verdicts.

A synthetic pair of runs with hand-set params and metrics gives the exact expected tables; the
child runs of a tiny sweep (greedy against temperature 0.7, and greedy under two limits) are
checked against what MlflowClient reads from the store.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from entropy_bench.cli import app
from entropy_bench.diff import metric_changes, param_changes
from entropy_bench.tracking import PARENT_ID_TAG

from sweep_fixtures import tiny_sweep, write

runner = CliRunner()

PARAMS_A = {"model": "tiny", "decoder": "greedy", "seed": "0", "only_a": "x"}
PARAMS_B = {"model": "tiny", "decoder": "temperature(temperature=0.7)", "seed": "0", "only_b": "0.70"}
METRICS_A = {"acc": 0.5, "acc_ci_low": 0.4, "acc_ci_high": 0.6,
             "auroc": 0.7, "auroc_ci_low": 0.6, "auroc_ci_high": 0.8,
             "tokens": 10.0, "same": 3.0, "same_ci_low": 2.0, "same_ci_high": 4.0,
             "wider": 1.0, "wider_ci_low": 0.9, "wider_ci_high": 1.1, "only_a": 5.0}
METRICS_B = {"acc": 0.65, "acc_ci_low": 0.55, "acc_ci_high": 0.75,
             "auroc": 0.75, "auroc_ci_low": 0.62, "auroc_ci_high": 0.85,
             "tokens": 12.0, "same": 3.0, "same_ci_low": 2.0, "same_ci_high": 4.0,
             "wider": 1.0, "wider_ci_low": 0.8, "wider_ci_high": 1.2, "loss": 2.5, "loss_ci_low": 2.0,
             "loss_ci_high": 3.0}


def diff(*args):
    return runner.invoke(app, ["diff", *args])


def rows_of(output: str) -> dict[str, list[str]]:
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in output.splitlines() if line.startswith("| ") and not line.startswith("| param ")
            and not line.startswith("| metric ")}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('diff') / 'store.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("pair")
    ids = []
    for params, metrics in ((PARAMS_A, METRICS_A), (PARAMS_B, METRICS_B)):
        run = client.create_run(experiment)
        for key, value in params.items():
            client.log_param(run.info.run_id, key, value)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    return uri, *ids


def test_param_changes_by_hand():
    table = param_changes(PARAMS_A, PARAMS_B)
    assert table.to_dict("records") == [
        {"param": "decoder", "A": "greedy", "B": "temperature(temperature=0.7)"},
        {"param": "only_a", "A": "x", "B": "–"},
        {"param": "only_b", "A": "–", "B": "0.70"},
    ]
    assert param_changes(PARAMS_A, PARAMS_A).empty


def test_metric_changes_by_hand():
    table = metric_changes(METRICS_A, METRICS_B).set_index("metric")
    # same (value and CI equal) is left out; wider is listed: only its CI changed
    assert list(table.index) == ["acc", "auroc", "loss", "only_a", "tokens", "wider"]
    assert table.loc["acc", "Δ"] == pytest.approx(0.15)
    # B's 0.65 is above A's CI [0.4, 0.6]; A's 0.5 is below B's CI [0.55, 0.75]
    assert table.loc["acc", ["CI A", "CI B", "outside A's CI", "outside B's CI"]].tolist() == [
        "[0.4, 0.6]", "[0.55, 0.75]", "yes", "yes"]
    # 0.75 ∈ [0.6, 0.8] and 0.7 ∈ [0.62, 0.85]
    assert table.loc["auroc", ["Δ", "outside A's CI", "outside B's CI"]].tolist() == [pytest.approx(0.05), "no", "no"]
    assert table.loc["tokens", ["Δ", "CI A", "CI B", "outside A's CI"]].tolist() == [2.0, "", "", ""]
    assert table.loc["wider", ["Δ", "CI A", "CI B", "outside A's CI", "outside B's CI"]].tolist() == [
        0.0, "[0.9, 1.1]", "[0.8, 1.2]", "no", "no"]
    # a metric one run lacks: no delta; the CI verdict needs the other run's value
    assert math.isnan(table.loc["loss", "A"]) and table.loc["loss", "B"] == 2.5 and math.isnan(table.loc["loss", "Δ"])
    assert table.loc["loss", ["CI B", "outside A's CI", "outside B's CI"]].tolist() == ["[2, 3]", "", ""]
    assert table.loc["only_a", "A"] == 5.0 and math.isnan(table.loc["only_a", "B"])


def test_nan_metrics_are_equal_and_nan_is_never_outside_a_ci():
    nan = float("nan")
    assert metric_changes({"m": nan}, {"m": nan}).empty
    row = metric_changes({"m": 1.0, "m_ci_low": 0.5, "m_ci_high": 1.5}, {"m": nan}).iloc[0]
    assert row["outside A's CI"] == "" and math.isnan(row["Δ"])


def test_the_cli_prints_only_what_differs(synthetic):
    uri, a, b = synthetic
    result = diff(a, b, "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"A = {a}, B = {b}"
    assert "## params that differ (3)" in lines and "## metrics that differ (6)" in lines
    row = rows_of(result.stdout)
    assert row["decoder"] == ["greedy", "temperature(temperature=0.7)"]
    assert row["only_b"] == ["–", "0.70"]  # a param is text: not read as the number 0.7
    assert row["acc"] == ["0.5", "0.65", "+0.15", "[0.4, 0.6]", "[0.55, 0.75]", "yes", "yes"]
    assert row["loss"] == ["–", "2.5", "–", "", "[2, 3]", "", ""]
    assert row["tokens"] == ["10", "12", "+2", "", "", "", ""]
    assert not {"model", "seed", "same", "acc_ci_low"} & set(row)


def test_a_run_against_itself_differs_in_nothing(synthetic):
    uri, a, _ = synthetic
    result = diff(a, a, "--tracking-uri", uri)
    assert result.exit_code == 0 and result.stdout.splitlines()[1:] == ["", "params: none differ", "",
                                                                        "metrics: none differ"]


@pytest.mark.parametrize("which", [0, 1])
def test_an_unknown_run_id_is_one_line_exit_2(synthetic, which):
    uri, a, _ = synthetic
    args = [a, "0123456789abcdef0123456789abcdef"] if which else ["0123456789abcdef0123456789abcdef", a]
    result = diff(*args, "--tracking-uri", uri)
    option = "RUN_B" if which else "RUN_A"
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: invalid {option}: no run '0123456789abcdef0123456789abcdef' at {uri}\n"


def test_a_malformed_run_id_or_a_missing_store_is_exit_2(synthetic, tmp_path):
    uri, a, _ = synthetic
    result = diff(a, "x' or '1'='1", "--tracking-uri", uri)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: invalid RUN_B: ") and "is not an MLflow run id" in result.stderr
    missing = f"sqlite:///{tmp_path / 'absent.db'}"
    result = diff(a, a, "--tracking-uri", missing)
    assert result.exit_code == 2 and "no tracking store" in result.stderr and not (tmp_path / "absent.db").exists()


# --- child runs of a tiny sweep -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_runs(tiny_model_dir, tmp_path_factory):
    """The tiny sweep (greedy, temperature 0.7) with limit 6, then again with limit 4: its runs by
    (limit, decoder), and the parents by limit."""
    tmp = tmp_path_factory.mktemp("sweeps")
    uri = f"sqlite:///{tmp / 'mlruns.db'}"
    for limit in (6, 4):
        path = write(tiny_sweep(tiny_model_dir, limit=limit), tmp / "sweep.yaml")
        result = runner.invoke(app, ["run", str(path), "--tracking-uri", uri, "--cache-dir", str(tmp / "cache"),
                                     "--no-progress"])
        assert result.exit_code == 0, result.output
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    kids = [r for r in runs if PARENT_ID_TAG in r.data.tags]
    cells = {(int(r.data.params["limit"]), r.data.params["decoder"]): r for r in kids}
    parents = {int(r.data.params["limit"]): client.get_run(r.data.tags[PARENT_ID_TAG]) for r in kids}
    return uri, cells, parents


def check_against_the_store(output: str, a, b) -> None:
    """Every param and metric of the two runs: listed exactly when it differs, with the store's values."""
    shown = rows_of(output)
    pa, pb = a.data.params, b.data.params
    for key in pa.keys() | pb.keys():
        assert (key in shown) == (pa.get(key) != pb.get(key)), key
        if key in shown:
            assert shown[key] == [pa.get(key, "–"), pb.get(key, "–")], key
    ma, mb = a.data.metrics, b.data.metrics
    for key in ma.keys() | mb.keys():
        if key.endswith(("_ci_low", "_ci_high")) and key.rsplit("_ci_", 1)[0] in ma.keys() | mb.keys():
            assert key not in shown  # folded into its metric's row
            continue
        changed = any(ma.get(k) != mb.get(k) for k in (key, f"{key}_ci_low", f"{key}_ci_high"))
        assert (key in shown) == changed, key
        if key in shown and key in ma and key in mb:
            assert float(shown[key][0]) == pytest.approx(ma[key], rel=1e-5)
            assert float(shown[key][1]) == pytest.approx(mb[key], rel=1e-5)
            assert float(shown[key][2]) == pytest.approx(mb[key] - ma[key], rel=1e-5, abs=1e-9)
            if f"{key}_ci_low" in ma:
                outside = not ma[f"{key}_ci_low"] <= mb[key] <= ma[f"{key}_ci_high"]
                assert shown[key][5] == ("yes" if outside else "no"), key


def test_two_decoders_child_runs(sweep_runs):
    uri, cells, _ = sweep_runs
    a, b = cells[(6, "greedy")], cells[(6, "temperature(temperature=0.7)")]
    result = diff(a.info.run_id, b.info.run_id, "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    shown = rows_of(result.stdout)
    assert shown["decoder"] == ["greedy", "temperature(temperature=0.7)"] and "model" not in shown
    assert any(k.startswith("test/gen/") for k in shown)  # the sampler changes what is generated
    check_against_the_store(result.stdout, a, b)


def test_one_cell_under_two_settings_and_two_parents(sweep_runs):
    uri, cells, parents = sweep_runs
    a, b = cells[(6, "greedy")], cells[(4, "greedy")]
    result = diff(a.info.run_id, b.info.run_id, "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    assert rows_of(result.stdout)["limit"] == ["6", "4"] and rows_of(result.stdout)["n_examples"][:3] == ["6", "4", "-2"]
    check_against_the_store(result.stdout, a, b)
    # the two sweeps' parent runs differ in their key (a tag), not in params or metrics
    result = diff(parents[6].info.run_id, parents[4].info.run_id, "--tracking-uri", uri)
    assert result.exit_code == 0 and "params: none differ" in result.stdout and "metrics: none differ" in result.stdout
    check_against_the_store(result.stdout, parents[6], parents[4])
    # a parent against a child: the sweep's params against the cell's
    result = diff(parents[6].info.run_id, a.info.run_id, "--tracking-uri", uri)
    assert result.exit_code == 0 and rows_of(result.stdout)["decoder"] == ["–", "greedy"]
    check_against_the_store(result.stdout, parents[6], a)

