"""Samples for the sampling-based measures: shared prefill, cache, validation and cost counters.

The tiny model's samples are random tokens; what is checked is plumbing against independent
references — the same rows generated without prefill sharing, the cache's own contents, and
the measures' formulas recomputed from the cached samples."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.cache import Cache
from entropy_bench.methods.registry import DECODERS
from entropy_bench.models.hf import load_model
from entropy_bench.models.pool import Models
from entropy_bench.runner import run_sweep
from entropy_bench.tracking import PARENT_ID_TAG
from entropy_bench.tracks.spec import SpecError

from sweep_fixtures import CountingLoader, tiny_sweep

MEASURES = ["max_sequence_prob", {"name": "predictive_entropy", "normalize": True}, "g_nll"]


def child_metrics(uri: str, experiment: str = "tiny") -> dict[str, dict]:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=100)
    return {r.data.params["decoder"]: r.data.metrics for r in runs if PARENT_ID_TAG in r.data.tags}


def test_n_per_prompt_shares_the_prefill_and_matches_repeated_prompts(tiny_model_dir):
    lm = load_model(str(tiny_model_dir))
    decoder = DECODERS.build("temperature", temperature=1.0)
    prompts, seeds = ["1 + 2 =", "a longer prompt than the first"], [11, 12, 13, 21, 22, 23]
    calls = lm.forward_calls
    shared = lm.generate(prompts, decoder, seeds=seeds, max_new_tokens=5, n_per_prompt=3)
    shared_calls = lm.forward_calls - calls
    repeated = lm.generate([p for p in prompts for _ in range(3)], decoder, seeds=seeds, max_new_tokens=5)
    assert [g.token_ids for g in shared] == [g.token_ids for g in repeated]
    for a, b in zip(shared, repeated):
        np.testing.assert_allclose(a.logprob, b.logprob, atol=1e-5)
    assert shared_calls <= 5  # one call a step: the prefill ran once for the batch
    with pytest.raises(ValueError, match="6 seeds for 2 prompts × 2"):
        lm.generate(prompts, decoder, seeds=seeds, max_new_tokens=2, n_per_prompt=2)


def test_a_sampling_measure_without_samples_names_n_samples(tiny_model_dir):
    spec = tiny_sweep(tiny_model_dir, uncertainty=["predictive_entropy"])
    with pytest.raises(SpecError, match="invalid 'n_samples'.*predictive_entropy"):
        sweep.plan(sweep.parse(spec))


@pytest.fixture(scope="module")
def sampled(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("samples")
    uri, cache = f"sqlite:///{tmp / 'mlruns.db'}", tmp / "cache"
    spec = tiny_sweep(tiny_model_dir, limit=4, n_samples=3, uncertainty=MEASURES)
    loader = CountingLoader()
    run_sweep(sweep.parse(spec), tracking_uri=uri, cache_dir=cache, resources={"models": Models(loader)}, progress=False)
    first = child_metrics(uri)
    more = dict(spec, uncertainty=MEASURES + ["max_token_entropy", "detection_statistic"])
    again = CountingLoader()
    result = run_sweep(sweep.parse(more), tracking_uri=uri, cache_dir=cache, resources={"models": Models(again)}, progress=False)
    return dict(uri=uri, cache=Cache(cache), spec=spec, first=first, rescored=child_metrics(uri), calls=again.calls,
                result=result, lm=load_model(str(tiny_model_dir)))


def test_samples_are_cached_under_their_own_keys_and_score_the_measures(sampled):
    from entropy_bench.tracks.generation_data import generation_key

    plan = sweep.plan(sweep.parse(sampled["spec"]))
    cell = next(c for c in plan.cells if c.decoder.name == "temperature")
    task = cell.task_run.task
    examples = task.load(cell.task_run.split, cell.task_run.limit)
    lm = sampled["lm"]
    by_example = []
    for e in examples:
        keys = [generation_key(lm.fingerprint, task.prompt(e), cell, e["id"], sample=k) for k in (1, 2, 3)]
        records = [sampled["cache"].get("generation", k) for k in keys]
        assert all(r is not None for r in records)
        by_example.append(records)
    expected = np.mean([-np.mean([np.sum(r["logprob"]) / len(r["logprob"]) for r in rows]) for rows in by_example])
    metrics = sampled["first"][cell.decoder.id]
    assert metrics["test/uq/predictive_entropy:normalize-True/mean"] == pytest.approx(expected, rel=1e-9)
    # answers and samples; the greedy answers G-NLL reads are the greedy cell's, which ran first
    assert metrics["cost/generations_computed"] == 4 * (1 + 3) and metrics["cost/generations_cached"] == 4
    greedy = sampled["first"]["greedy"]  # its answers are its greedy answers: counted once
    assert greedy["cost/generations_computed"] == 4 * (1 + 3) and greedy["cost/generations_cached"] == 0
    assert metrics["cost/model_calls"] > 0


def test_g_nll_scores_every_cell_by_its_greedy_answer(sampled):
    greedy, tempered = sampled["first"]["greedy"], sampled["first"]["temperature(temperature=0.7)"]
    assert greedy["test/uq/g_nll/mean"] == pytest.approx(greedy["test/uq/max_sequence_prob/mean"], rel=1e-12)
    assert tempered["test/uq/g_nll/mean"] == pytest.approx(greedy["test/uq/max_sequence_prob/mean"], rel=1e-12)


def test_adding_measures_to_a_sampled_sweep_makes_no_model_call(sampled):
    assert sampled["calls"] == 0 and sampled["result"].rescored == 2
    for decoder, metrics in sampled["rescored"].items():
        assert "test/uq/max_token_entropy/mean" in metrics and "test/uq/detection_statistic/mean" in metrics
        # a rescore logs its own cost under rescore/cost/*; the first run's cost/* stay as they were
        assert metrics["cost/model_calls"] == sampled["first"][decoder]["cost/model_calls"] > 0
        assert metrics["rescore/cost/model_calls"] == 0 and metrics["rescore/cost/generations_computed"] == 0
        assert metrics["rescore/cost/statistics_computed"] == 0  # token_nll was cached by the first run
        assert metrics["rescore/cost/statistics_cached"] == 1
        assert metrics["test/uq/g_nll/mean"] == sampled["first"][decoder]["test/uq/g_nll/mean"]


def test_pmi_and_eigen_score_run_in_a_sweep_and_pmi_equals_a_recomputation(tiny_model_dir, tmp_path):
    """The two measures that re-read text with the model, end to end; PMI of the greedy cell
    recomputed from its cached answers with one unpadded forward pass each."""
    import torch

    from entropy_bench.methods.uncertainty.pointwise_mutual_information import mean_pmi_uncertainty
    from entropy_bench.tracks.generation_data import generation_key

    uri, cache = f"sqlite:///{tmp_path / 'mlruns.db'}", tmp_path / "cache"
    spec = tiny_sweep(tiny_model_dir, limit=3, n_samples=2, uncertainty=["pointwise_mutual_information", "eigen_score"])
    run_sweep(sweep.parse(spec), tracking_uri=uri, cache_dir=cache, progress=False)
    metrics = child_metrics(uri)
    for decoder in metrics.values():
        means = [v for k, v in decoder.items() if k.startswith("test/uq/") and k.endswith("/mean")]
        assert len(means) == 2 and all(np.isfinite(means))
    lm = load_model(str(tiny_model_dir))
    cell = next(c for c in sweep.plan(sweep.parse(spec)).cells if c.decoder.name == "greedy")
    task = cell.task_run.task
    scores = []
    for e in task.load(cell.task_run.split, cell.task_run.limit):
        record = Cache(cache).get("generation", generation_key(lm.fingerprint, task.prompt(e), cell, e["id"]))
        with torch.no_grad():
            logp = lm.model(torch.tensor([record["token_ids"]])).logits[0].double().log_softmax(-1)
        unconditional = [float("nan")] + [float(logp[t - 1, tok]) for t, tok in enumerate(record["token_ids"]) if t]
        scores.append(mean_pmi_uncertainty(record["logprob"], unconditional))
    assert metrics["greedy"]["test/uq/pointwise_mutual_information/mean"] == pytest.approx(np.mean(scores), abs=1e-4)
