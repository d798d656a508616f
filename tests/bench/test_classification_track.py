"""The classification track end to end: a tiny digits sweep through the runner and MLflow, its
metrics checked against independent computations (scikit-learn, scipy), rescoring without
retraining, the shipped sweeps parsed and run on fixtures, and bad specs refused."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.metrics import roc_auc_score

from entropy_bench import sweep
from entropy_bench.methods.registry import LOSSES, UNCERTAINTY
from entropy_bench.metrics import keys
from entropy_bench.runner import run_sweep
from entropy_bench.tables import load_examples, summarise
from entropy_bench.tracks.classification_claims import claims
from entropy_bench.tracks.classification_table import t_interval
from entropy_bench.tracks.spec import SpecError

from image_fixtures import write_cifar, write_fashion_test

SWEEPS = Path(sweep.__file__).parent / "sweeps"
MEASURES = ["max_softmax_prob", "softmax_entropy", "softmax_margin", "energy", "temperature_scaling",
            "mc_dropout_mi", "ensemble_mi", "conformal_aps"]
ID = {name: UNCERTAINTY.build(name).id for name in MEASURES}  # energy → energy(temperature=1.0)


def tiny(**overrides) -> dict:
    spec = {"name": "cls-tiny", "track": "classification", "tasks": [{"name": "digits", "ood": "held_out_classes"}],
            "arch": "small_cnn", "dropout": 0.3, "training": {"epochs": 3, "batch_size": 128},
            "members": 2, "mc_samples": 3, "uncertainty": MEASURES, "seeds": [0, 1]}
    return spec | overrides


def run(spec: dict, tmp_path: Path, **kwargs):
    return run_sweep(sweep.parse(spec), tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}",
                     cache_dir=tmp_path / "cache", progress=False, **kwargs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cls")
    result = run(tiny(), tmp, out_dir=tmp / "out")
    return {"result": result, "tmp": tmp, "examples": load_examples(result.tracking_uri, "cls-tiny", result.parent_run_id)}


def test_every_cell_logs_every_metric_of_every_measure(finished):
    result = finished["result"]
    assert result.cells == 2 and result.generated_examples == 4  # 2 seeds × 2 members
    client = mlflow.tracking.MlflowClient(result.tracking_uri)
    children = client.search_runs([client.get_experiment_by_name("cls-tiny").experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'")
    assert len(children) == 2
    for run_ in children:
        for measure in ID.values():
            for metric in ("accuracy", "nll", "ece", "ece_adaptive", "brier", "auroc", "aurc", "ood_auroc", "fpr95"):
                key = keys.classification("test", measure, metric)
                low, value, high = (run_.data.metrics[k] for k in (f"{key}_ci_low", key, f"{key}_ci_high"))
                assert np.isfinite(value) and low <= high, key
                if metric not in ("ece", "ece_adaptive"):  # binned ECE is biased up in resamples: its
                    assert low <= value <= high, key  # percentile interval can lie above the estimate
        artifacts = {a.path for a in client.list_artifacts(run_.info.run_id)}
        assert {"per_example.csv", "reliability.png", "risk_coverage.png"} <= artifacts


def test_rows_hold_the_test_split_and_the_held_out_classes(finished):
    from entropy_bench.tasks.image_data import digits_held_out_classes

    examples = finished["examples"]
    cell = examples[examples["seed"] == "0"]
    splits = digits_held_out_classes(0)
    assert (cell["split"] == "test").sum() == len(splits["test"].labels)
    assert (cell["split"] == "ood").sum() == len(splits["ood"].labels) == (load_digits_labels() >= 8).sum()
    np.testing.assert_array_equal(cell.loc[cell["split"] == "test", "label"], splits["test"].labels)


def load_digits_labels() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().target


def test_logged_ood_auroc_is_scikit_learns_on_the_mixed_set(finished):
    examples, result = finished["examples"], finished["result"]
    client = mlflow.tracking.MlflowClient(result.tracking_uri)
    for run_id, cell in examples.groupby("run_id"):
        logged = client.get_run(run_id).data.metrics
        is_ood = (cell["split"] == "ood").to_numpy()
        for measure in ID.values():
            score = cell[f"uq:{measure}"].to_numpy()
            assert logged[keys.classification("test", measure, "ood_auroc")] == pytest.approx(
                roc_auc_score(is_ood, score), abs=1e-9)
            ind = ~is_ood
            correct = cell[f"correct:{measure}"].to_numpy()[ind]
            assert logged[keys.classification("test", measure, "accuracy")] == pytest.approx(correct.mean())
            assert logged[keys.classification("test", measure, "auroc")] == pytest.approx(
                roc_auc_score(1 - correct, score[ind]), abs=1e-9)


def test_ensemble_and_mc_dropout_change_the_predictive_distribution(finished):
    cell = finished["examples"]
    cell = cell[(cell["seed"] == "0") & (cell["split"] == "test")]
    single = cell[f"confidence:{ID['max_softmax_prob']}"].to_numpy()
    np.testing.assert_array_equal(single, cell[f"confidence:{ID['energy']}"].to_numpy())
    for other in ("ensemble_mi", "mc_dropout_mi", "temperature_scaling"):
        assert not np.allclose(single, cell[f"confidence:{ID[other]}"].to_numpy())


def test_table_is_the_mean_and_student_t_interval_over_seeds(finished):
    from entropy_bench.tracks.classification_table import per_seed

    table = summarise(finished["examples"])
    assert len(table) == len(MEASURES) and set(table["seeds"]) == {2}
    seeds = per_seed(finished["examples"])
    for measure in ("ensemble_mi", "temperature_scaling"):
        values = seeds.loc[seeds["measure"] == ID[measure], "ood_auroc"].to_numpy()
        row = table[table["measure"] == ID[measure]].iloc[0]
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert (row["OOD AUROC"], row["OOD AUROC_ci_low"], row["OOD AUROC_ci_high"]) == pytest.approx(
            (values.mean(), max(low, 0.0), min(high, 1.0)))  # clipped to the range of an AUROC


def test_table_intervals_end_at_the_metric_range(finished):
    table = summarise(finished["examples"])
    assert (table["accuracy_ci_high"] <= 1).all() and (table["FPR@95_ci_low"] >= 0).all()
    assert (table["NLL_ci_low"] >= 0).all()


def test_t_interval_edge_cases():
    assert np.isnan(t_interval(np.array([0.3]))[1]) and t_interval(np.array([0.3]))[0] == 0.3
    assert np.isnan(t_interval(np.array([]))[0])
    assert t_interval(np.array([1.0, np.nan, 3.0]))[0] == 2.0


def test_claims_are_paired_over_seeds(finished):
    table = summarise(finished["examples"])
    found = claims(table).set_index("claim")
    seeds = pd.DataFrame(table.attrs["per_seed"])
    ece = seeds.pivot(index="seed", columns="measure", values="ece")
    difference = ece[ID["temperature_scaling"]] - ece[ID["max_softmax_prob"]]
    row = found.loc["temperature scaling lowers ECE"]
    assert row["difference"] == pytest.approx(difference.mean())
    assert row["holds"] == (difference.mean() < 0) and row["seeds"] == 2
    assert {"ensemble beats MC dropout on OOD AUROC", "MC dropout beats a single model on OOD AUROC"} <= set(found.index)


def test_sweep_figures_are_written(finished):
    out = finished["tmp"] / "out"
    assert {"measures.png", "claims.md"} <= {p.name for p in out.iterdir()}


def test_a_new_measure_rescores_without_training(finished, tmp_path):
    spec = tiny(uncertainty=MEASURES + [{"name": "energy", "temperature": 2.0}])
    again = run_sweep(sweep.parse(spec), tracking_uri=finished["result"].tracking_uri,
                      cache_dir=finished["tmp"] / "cache", progress=False)
    assert again.rescored == 2 and again.generated_examples == 0


def test_label_noise_sweep_tests_the_robust_loss_claim(tmp_path):
    spec = tiny(name="cls-noise", members=1, mc_samples=0, uncertainty=["max_softmax_prob"], seeds=[0, 1],
                losses=["cross_entropy", {"name": "generalized_ce", "q": 0.7}],
                label_noise=["none", {"name": "symmetric", "rate": 0.6}], training={"epochs": 2, "batch_size": 256})
    result = run(spec, tmp_path, out_dir=tmp_path / "out")
    assert result.cells == 8
    table = summarise(load_examples(result.tracking_uri, "cls-noise", result.parent_run_id))
    found = claims(table)
    row = found[found["claim"] == "loss a degrades less under label noise than cross-entropy"]
    assert len(row) == 1 and row["label_noise"].iloc[0] == "symmetric(rate=0.6)"
    assert row["a"].iloc[0] == LOSSES.build("generalized_ce", q=0.7).id and row["b"].iloc[0].startswith("cross_entropy(")
    accuracy = pd.DataFrame(table.attrs["per_seed"]).set_index(["loss", "label_noise", "seed"])["accuracy"]
    drops = {loss: accuracy.loc[(loss, "none")] - accuracy.loc[(loss, "symmetric(rate=0.6)")]
             for loss in (row["a"].iloc[0], row["b"].iloc[0])}
    assert row["difference"].iloc[0] == pytest.approx((drops[row["a"].iloc[0]] - drops[row["b"].iloc[0]]).mean())
    assert (tmp_path / "out" / "noise.png").exists()


# --- the shipped sweeps ----------------------------------------------------------------------


def test_classify_digits_is_shipped_with_three_seeds_and_every_measure():
    spec = sweep.load("classify-digits")
    assert len(spec.seeds) >= 3 and spec.members >= 2 and spec.mc_samples >= 2
    assert {m if isinstance(m, str) else m["name"] for m in spec.uncertainty} == set(MEASURES)


def test_classify_digits_runs_on_a_fashion_mnist_fixture(tmp_path, monkeypatch):
    write_fashion_test(tmp_path / "data", 400)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    spec = yaml.safe_load((SWEEPS / "classify-digits.yaml").read_text())
    spec.update(training={"epochs": 1, "batch_size": 256}, members=2, mc_samples=2, seeds=[0])
    result = run(spec, tmp_path)
    examples = load_examples(result.tracking_uri, spec["name"], result.parent_run_id)
    assert examples["run_id"].nunique() == len(spec["label_noise"])
    for _, cell in examples.groupby("run_id"):
        assert (cell["split"] == "ood").sum() == (cell["split"] == "test").sum() == 360


def test_classify_cifar10_runs_on_the_pickle_fixture(tmp_path, monkeypatch):
    write_cifar(tmp_path / "data", per_batch=8, test=12)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    spec = yaml.safe_load((SWEEPS / "classify-cifar10.yaml").read_text())
    spec["tasks"] = [{"name": "cifar10", "val_size": 10}]
    spec["training"].update(epochs=1, batch_size=8)
    spec.update(members=2, mc_samples=2, seeds=[0])
    result = run(spec, tmp_path)
    examples = load_examples(result.tracking_uri, spec["name"], result.parent_run_id)
    assert (examples["split"] == "test").sum() == 12 and (examples["split"] == "ood").sum() == 12
    assert examples.filter(like="uq:").notna().all().all()


# --- bad specs --------------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    ({"uncertainty": ["max_sequence_prob"]}, "the classification track does not provide"),
    ({"members": 1}, "invalid 'members'"),
    ({"mc_samples": 0}, "invalid 'mc_samples'"),
    ({"dropout": 0.0}, "invalid 'mc_samples'"),
    ({"losses": ["emo"]}, "is not a loss(logits, targets)"),
    ({"tasks": ["gsm8k"]}, "is not an image task"),
    ({"tasks": ["digts"]}, "did you mean 'digits'"),
    ({"label_noise": [{"name": "symmetric", "rate": 1.5}]}, "invalid 'rate'"),
    ({"label_noise": [{"name": "symetric", "rate": 0.5}]}, "did you mean 'symmetric'"),
    ({"label_noise": [{"name": "symmetric", "ratio": 0.5}]}, "no such parameter 'ratio'"),
    ({"uncertainty": ["energy", "energy"]}, "listed twice"),
])
def test_bad_specs_are_refused_naming_the_field(change, message):
    with pytest.raises((SpecError, LookupError, ValueError), match=None) as err:
        sweep.plan(sweep.parse(tiny(**change)))
    assert message in str(err.value)


@pytest.mark.parametrize("change", [{"seeds": [-1]}, {"training": {"epochs": 0}}, {"arch": "resnet"},
                                    {"training": {"optimiser": "sgd"}}])
def test_invalid_fields_fail_parsing(change):
    with pytest.raises(Exception) as err:
        sweep.plan(sweep.parse(tiny(**change)))
    assert list(change)[0] in str(err.value)


def test_bad_spec_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny(uncertainty=["ensemble_entropy"])))
    done = subprocess.run([sys.executable, "-m", "entropy_bench.cli", "run", str(path), "--tracking-uri",
                           f"sqlite:///{tmp_path / 'mlruns.db'}", "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and "did you mean" in done.stderr
    assert not (tmp_path / "mlruns.db").exists() and not (tmp_path / "cache").exists()


# --- killed mid-training ----------------------------------------------------------------------


def test_killed_mid_training_resumes_to_the_same_metrics(tmp_path):
    spec = tiny(name="cls-kill", members=1, mc_samples=0, uncertainty=["max_softmax_prob"], seeds=[0],
                training={"epochs": 60, "batch_size": 64, "checkpoint_every": 10})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    command = [sys.executable, "-m", "entropy_bench.cli", "run", str(path), "--no-progress",
               "--tracking-uri", f"sqlite:///{tmp_path / 'killed.db'}", "--cache-dir", str(tmp_path / "cache")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "cache" / "checkpoint"
    deadline = time.monotonic() + 240
    while not any(checkpoints.rglob("*.pt")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "training finished before a checkpoint was seen"
    time.sleep(0.3)  # a few more steps: killed between checkpoints
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    step = _checkpoint_step(checkpoints)
    assert 0 < step < 60 * 17
    subprocess.run(command, cwd=tmp_path, check=True, timeout=600, capture_output=True)
    whole = run(spec, tmp_path / "whole")
    resumed = load_examples(f"sqlite:///{tmp_path / 'killed.db'}", "cls-kill")
    uninterrupted = load_examples(whole.tracking_uri, "cls-kill")
    columns = [c for c in resumed.columns if ":" in c]
    pd.testing.assert_frame_equal(resumed[columns].reset_index(drop=True), uninterrupted[columns].reset_index(drop=True))


def _checkpoint_step(folder: Path) -> int:
    import torch

    return int(torch.load(next(folder.rglob("*.pt")), weights_only=True)["step"])
