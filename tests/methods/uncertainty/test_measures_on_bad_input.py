"""Every registered measure on degenerate input — NaN and ±inf log-probs, empty texts, one sample,
identical samples — through the real statistics graph and the generation track's score check:
no exception, one score per example, and a non-finite score never without a warning (the
measure's own, or the track's naming the measure and the cell)."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from entropy_bench.cache import Cache
from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.classifier import ClassifierMeasure
from entropy_bench.stats import compute, plan, select
from entropy_bench.tasks.base import TASKS
from entropy_bench.tracks.generation import finite_scores

INPUTS = ("generations", "examples", "task", "encoders", "greedy", "samples", "generator")


class FakeEncoders:
    """Deterministic embeddings (a hash of the text), NLI probabilities and cross-encoder scores, no model."""

    def __init__(self):
        self.calls = Counter()

    def embed(self, model, texts):
        rows = [torch.Generator().manual_seed(abs(hash(t)) % 2**31) for t in texts]
        return torch.stack([torch.randn(8, generator=g) for g in rows]) if texts else torch.zeros(0, 8)

    def nli(self, model, pairs):
        probs = torch.tensor([[0.8, 0.1, 0.1] if a == b else [0.2, 0.3, 0.5] for a, b in pairs])
        return probs.reshape(-1, 3)

    def cross_encode(self, model, pairs):
        return torch.tensor([1.0 if a == b else 0.3 for a, b in pairs], dtype=torch.float64)


def generation(text: str, logprob: list[float]) -> Generation:
    n = len(logprob)
    return Generation(text=text, token_ids=list(range(n)), logprob=logprob, entropy=[0.5] * n,
                      warped_logprob=logprob, warped_entropy=[0.5] * n, top_ids=[[0]] * n,
                      top_logprobs=[[-0.1]] * n, finish_reason="eos")


CASES = {
    "nan_logprob": [generation("7", [float("nan"), -0.1]), generation("8", [-0.3]), generation("7", [-0.2])],
    "inf_logprob": [generation("7", [float("-inf")]), generation("9", [-0.3, -0.4]), generation("7", [-0.2])],
    "empty_texts": [generation("", [-0.5]), generation("", [-0.6]), generation("3", [-0.1])],
    "one_sample": [generation("7", [-0.2])],
    "identical": [generation("7", [-0.2])] * 4,
}


class FakeGenerator:
    """Stands in for the track's ``generator``: every draw is the next of the case's samples, in turn
    (perturbed questions and their responses as degenerate as the samples); forward passes (PMI,
    EigenScore) run the tiny model over the cases' token ids."""

    def __init__(self, samples: list[Generation], lm, task):
        self.samples, self.lm, self.task = samples, lm, task

    def prompt(self, example):
        return self.task.prompt(example)

    def draw(self, prompts, rows, n, **settings):
        return [[self.samples[(i * n + k) % len(self.samples)] for k in range(n)] for i in range(len(prompts))]


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    from entropy_bench.models.hf import load_model

    return load_model(str(tiny_model_dir))


def measures():
    """Every measure of generations by its defaults, and the external Semantic Volume (which has no
    defaults); classifier measures read logits (their bad input: test_classifier_measures.py)."""
    built = [UNCERTAINTY.build(n) for n in UNCERTAINTY.names()]
    return [m for m in built if not isinstance(m, ClassifierMeasure)] + [
        UNCERTAINTY.build("semantic_volume", source="queries", n_perturbations=3),
        UNCERTAINTY.build("sar", similarity="cosine"),
        UNCERTAINTY.build("inv_entropy", similarity="nli_entail", n_perturbations=2, n_responses=2)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("measure", measures(), ids=lambda m: m.id)
def test_no_crash_and_no_silent_nan(measure, case, tmp_path, lm):
    samples = CASES[case]
    answer = samples[0]
    task = TASKS.build("arithmetic")
    inputs = {"generations": [answer, generation("5", [-0.1])], "greedy": [answer, generation("5", [-0.1])],
              "examples": [{"id": "a", "expression": "1 + 2"}, {"id": "b", "expression": "3 - 1"}],
              "task": task, "generator": FakeGenerator(samples, lm, task),
              "encoders": FakeEncoders(), "samples": [samples, [generation("5", [-0.1]), generation("6", [-0.2])]]}
    calculators = plan(measure.requires, INPUTS)
    keys = {k: f"{case}/{k}" for k in INPUTS}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = compute(calculators, inputs, keys, Cache(tmp_path))
        scores = finite_scores(measure.id, measure(select(values, measure.requires)), "test-cell")
    assert scores.shape == (2,)
    if not np.isfinite(scores).all():
        assert caught, f"{measure.id} on {case}: non-finite score {scores} without a warning"
        assert any(measure.id in str(w.message) or measure.name in str(w.message) for w in caught)
