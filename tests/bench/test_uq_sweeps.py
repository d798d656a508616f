"""The shipped uncertainty sweeps: uq-arithmetic validates offline; uq-gsm8k runs end to end on 2
questions with the real default model, its NLI-based measures on a tiny randomly initialised
MNLI-style classifier — the same code path as ``microsoft/deberta-large-mnli`` (no NLI model
ships offline) — and its SAR measures on a tiny random one-output cross-encoder in place of
``cross-encoder/stsb-roberta-large``, so the scores of those measures are meaningless here,
their plumbing is not."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from importlib.resources import files

from entropy_bench import sweep
from entropy_bench.runner import run_sweep
from entropy_bench.tables import load_examples
from entropy_bench.tracks.uq_table import rank_measures, temperature_sensitivity

from nli_fixtures import build_tiny_nli_model

pytestmark = pytest.mark.slow
REAL_NLI = "microsoft/deberta-large-mnli"
REAL_CROSS_ENCODER = "cross-encoder/stsb-roberta-large"


def shipped(name: str) -> dict:
    return yaml.safe_load(files("entropy_bench.sweeps").joinpath(f"{name}.yaml").read_text())


def test_uq_arithmetic_validates_offline():
    plan = sweep.plan(sweep.parse(shipped("uq-arithmetic")))
    assert len(plan.cells) == 13 and {c.n_samples for c in plan.cells} == {5}
    assert not any(REAL_NLI in m.id for m in plan.cells[0].measures)  # every measure runs offline


def one_perturbation(measure):
    """A perturbation measure with 1 paraphrase and 1 response: the same code path, a fraction of
    the sweep's 9 × 5 extra GSM8K generations a question."""
    entry = {"name": measure} if isinstance(measure, str) else dict(measure)
    if entry["name"] == "inv_entropy":
        return {**entry, "n_perturbations": 1, "n_responses": 1}
    return {**entry, "n_perturbations": 1} if entry.get("source") == "queries" else measure


@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="GSM8K needs $BENCH_DATA_DIR offline")
def test_uq_gsm8k_runs_on_two_questions(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(Path(os.environ["BENCH_DATA_DIR"]).resolve()))
    monkeypatch.chdir(tmp_path)  # MLflow's artifact root
    nli = str(build_tiny_nli_model(tmp_path / "tiny-nli"))
    cross_encoder = str(build_tiny_nli_model(tmp_path / "tiny-cross-encoder", id2label={0: "LABEL_0"}))
    text = yaml.safe_dump(shipped("uq-gsm8k")).replace(REAL_NLI, nli).replace(REAL_CROSS_ENCODER, cross_encoder)
    spec = yaml.safe_load(text)
    spec["tasks"] = [dict(spec["tasks"][0], limit=2, max_new_tokens=24)]
    spec["uncertainty"] = [one_perturbation(m) for m in spec["uncertainty"]]
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    result = run_sweep(sweep.parse(spec), tracking_uri=uri, cache_dir=tmp_path / "cache", progress=False)
    assert result.cells == 13
    examples = load_examples(uri, "uq-gsm8k")
    measures = [c for c in examples.columns if c.startswith("uq:")]
    assert len(measures) == len(spec["uncertainty"]) and len(examples) == 13 * 2
    nli_measures = [m for m in measures if nli in m]
    assert len(nli_measures) == 8 and np.isfinite(examples[nli_measures].to_numpy()).all()
    sar_measures = [m for m in measures if cross_encoder in m]
    assert len(sar_measures) == 2 and np.isfinite(examples[sar_measures].to_numpy()).all()
    ranking = rank_measures(examples, n_resamples=20)
    assert len(ranking) == 13 * len(measures)
    assert set(temperature_sensitivity(examples, n_resamples=20)["family"]) == {
        "temperature", "min_p(min_p=0.1)", "top_h(top_h=0.4,top_k=100)", "mirostat_v2(eta=0.1,tau=3.0)"}
