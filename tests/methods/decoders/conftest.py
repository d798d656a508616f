"""Shared fixtures for the decoder tests.

Any test with a ``decoder`` argument runs once per registered decoder and example parameter set
below, extremes included, so a newly registered decoder is covered by the shared property and
interface tests as soon as it has an entry here (or defaults for all its parameters).
"""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from entropy_bench.methods.registry import DECODERS

EXAMPLES: dict[str, list[dict]] = {
    "greedy": [{}],
    "temperature": [{"temperature": 0.05}, {"temperature": 1.0}, {"temperature": 20.0}],
    "top_k": [{"top_k": 1}, {"top_k": 3}, {"top_k": 50}],
    "top_p": [{"top_p": 1e-9}, {"top_p": 0.9}, {"top_p": 1.0}],
    "min_p": [{"min_p": 0.0}, {"min_p": 0.1}, {"min_p": 1.0}],
    "typical": [{"typical_p": 1e-9}, {"typical_p": 0.9}, {"typical_p": 1.0}],
    "epsilon": [{"epsilon": 1e-4}, {"epsilon": 0.2}, {"epsilon": 0.999}],
    "eta": [{"epsilon": 1e-4}, {"epsilon": 0.2}, {"epsilon": 0.999}],
    "top_h": [{"top_h": 1e-9}, {"top_h": 0.4}, {"top_h": 1.0, "top_k": 1_000_000}],
    "mirostat": [{"tau": 0.01, "eta": 1.0}, {"tau": 3.0, "eta": 0.1}, {"tau": 30.0, "eta": 0.1}],
    "mirostat_v2": [{"tau": 0.01, "eta": 1.0}, {"tau": 3.0, "eta": 0.1}, {"tau": 30.0, "eta": 0.1}],
    "entropy_band": [{"lower": 0.0, "upper": 0.0}, {"lower": 0.5, "upper": 1.5}, {"lower": 8.0, "upper": 9.0}],
    "top_n_sigma": [{"n": 0.0}, {"n": 1.0}, {"n": 3.0}],
    "xtc": [
        {"xtc_probability": 1.0, "xtc_threshold": 1e-9},
        {"xtc_probability": 0.5, "xtc_threshold": 0.1},
        {"xtc_probability": 1.0, "xtc_threshold": 0.5},
    ],
    "quadratic": [
        {"smoothing_factor": 1e-3},
        {"smoothing_factor": 0.25},
        {"smoothing_factor": 10.0, "smoothing_curve": 3.0},
        {"smoothing_factor": 1.0, "smoothing_curve": 10.0},
    ],
    "adaptive_temperature": [
        {"entropy_low": 0.05, "entropy_mid": 0.5, "entropy_high": 3.0},
        {"entropy_low": 1e-3, "entropy_mid": 1e-2, "entropy_high": 0.1, "temperature": 0.7, "spread": 0.9},
    ],
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "decoder" in metafunc.fixturenames:
        names = DECODERS.names()
        decoders = [DECODERS.build(name, **params) for name in names for params in EXAMPLES.get(name, [{}])]
        metafunc.parametrize("decoder", decoders, ids=str)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run these small-tensor tests on one intra-op thread: on a shared two-core machine a second
    thread mostly waits (torch.topk of a 64×1000 batch took 40× longer with two threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_lm() -> GPT2LMHeadModel:
    """A randomly initialised 2-layer GPT-2 over 100 tokens; no EOS, so every sequence runs to its length."""
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=100, n_positions=32, n_embd=16, n_layer=2, n_head=2,
        bos_token_id=0, eos_token_id=None, pad_token_id=0,
    )
    return GPT2LMHeadModel(config).eval()
