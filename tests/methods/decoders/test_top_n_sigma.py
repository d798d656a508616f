"""Top-nσ: hand-derived rows, temperature invariance, vocabulary permutations, and parity with
llama.cpp's ``llama_sampler_top_n_sigma`` re-implemented here in NumPy float64 (transformers has
no top-nσ warper)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropy_bench.methods.decoders.base import Chain
from entropy_bench.methods.decoders.temperature import Temperature
from entropy_bench.methods.decoders.top_n_sigma import TopNSigma
from entropy_bench.methods.registry import InvalidParameterError

from strategies import PARITY_ROWS, logit_rows, random_rows

NEG_INF = float("-inf")


def kept(decoder, row, dtype=torch.float32):
    return decoder(torch.tensor([row], dtype=dtype))[0].isfinite()[0].tolist()


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        # mean 1.5, σ = √1.25 = 1.118 (population): floors 3, 1.882, 0.764, −0.354
        (0.0, [False, False, False, True]),
        (1.0, [False, False, True, True]),
        (2.0, [False, True, True, True]),
        (3.0, [True, True, True, True]),
    ],
)
def test_keeps_the_logits_within_n_sigma_of_the_max(n, expected):
    assert kept(TopNSigma(n=n), [0.0, 1.0, 2.0, 3.0]) == expected


def test_sigma_is_the_population_deviation_of_the_finite_logits():
    # [0, 1]: population σ = 0.5, floor at n = 1.5 is 0.25 → token 0 goes. The Bessel-corrected σ
    # of the authors' torch.std (0.707) would put the floor at −0.06 and keep it.
    assert kept(TopNSigma(n=1.5), [0.0, 1.0]) == [False, True]
    # −inf entries (tokens masked by an earlier rule) are not part of σ: over 10, 9, 8 σ = 0.816 and
    # the floor at n = 1 is 9.18. Counting them as zeros (text-generation-webui) gives σ ≈ 4.9.
    row = [10.0, 9.0, 8.0] + [NEG_INF] * 4
    assert kept(TopNSigma(n=1.0), row) == [True, False, False] + [False] * 4


def test_the_floor_itself_is_kept():
    # [0, 1] at n = 2: floor = 1 − 2 · 0.5 = 0 exactly, and z ≥ floor keeps token 0 (llama.cpp drops
    # only z < floor; the authors' strict z > floor would drop it).
    assert kept(TopNSigma(n=2.0), [0.0, 1.0], torch.float64) == [True, True]


def test_ties_flat_rows_and_single_tokens():
    assert kept(TopNSigma(n=0.0), [3.0, 1.0, 3.0, 3.0]) == [True, False, True, True]  # every tie with the max
    assert kept(TopNSigma(n=1.0), [2.0] * 5) == [True] * 5  # σ = 0: all equal, all kept
    assert kept(TopNSigma(n=1.0), [NEG_INF, 4.0, NEG_INF]) == [False, True, False]


def test_rejects_negative_n():
    with pytest.raises(InvalidParameterError) as err:
        TopNSigma(n=-0.5)
    assert err.value.field == "n"


@settings(max_examples=60, deadline=None)
@given(logits=logit_rows(), n=st.sampled_from([0.0, 0.5, 1.0, 2.0]), scale=st.sampled_from([2.0, 4.0, 8.0]))
def test_kept_set_is_exactly_temperature_invariant_for_powers_of_two(logits, n, scale):
    # z / T for T = 1/2, 1/4, 1/8 is exact, and so are the scaled max, mean and σ: the kept sets agree bit for bit.
    decoder = TopNSigma(n=n)
    assert torch.equal(decoder(logits * scale)[0].isfinite(), decoder(logits)[0].isfinite())


@pytest.mark.parametrize("temperature", [0.3, 0.7, 1.5, 3.0])
def test_before_or_after_temperature_keeps_the_same_tokens(temperature):
    # Any T > 0: the kept set is the same up to rounding, here not even one token in 1000 rows.
    logits = random_rows(1000, 50, seed=1)
    first = Chain((TopNSigma(n=1.0), Temperature(temperature=temperature)))(logits)[0]
    last = Chain((Temperature(temperature=temperature), TopNSigma(n=1.0)))(logits)[0]
    assert torch.equal(first.isfinite(), last.isfinite())
    torch.testing.assert_close(first.softmax(-1), last.softmax(-1), rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(logits=logit_rows(), n=st.sampled_from([0.0, 1.0, 3.0]), seed=st.integers(0, 2**31 - 1))
def test_permuting_the_vocabulary_permutes_the_output(logits, n, seed):
    perm = torch.randperm(logits.shape[-1], generator=torch.Generator().manual_seed(seed))
    decoder = TopNSigma(n=n)
    assert torch.equal(decoder(logits[:, perm])[0], decoder(logits)[0][:, perm])


def llama_cpp_top_n_sigma(logits: np.ndarray, n: float) -> np.ndarray:
    """llama.cpp's llama_sampler_top_n_sigma_apply, row by row in float64: max and mean over the
    logits that are not −inf, σ = sqrt(Σ (z − mean)² / count), then z < max − n·σ becomes −inf."""
    out = logits.copy()
    for row in out:
        valid = row[row != -math.inf]
        mean = valid.sum() / len(valid)
        std = math.sqrt(((valid - mean) ** 2).sum() / len(valid))
        row[row < valid.max() - n * std] = -math.inf
    return out


@pytest.fixture(scope="module")
def parity_rows() -> dict[int, torch.Tensor]:
    return {vocab: random_rows(count, vocab, seed=vocab) for vocab, count in PARITY_ROWS.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("vocab", list(PARITY_ROWS))
@pytest.mark.parametrize("n", [0.5, 1.0, 2.0, 3.0])
def test_same_kept_sets_and_probabilities_as_llama_cpp(parity_rows, n, vocab, dtype):
    logits = parity_rows[vocab].to(dtype)
    ours = torch.cat([TopNSigma(n=n)(chunk)[0] for chunk in logits.split(32)])
    theirs = torch.from_numpy(llama_cpp_top_n_sigma(logits.double().numpy(), n))
    # μ and σ are computed in float64 from the rows' values, so float32 rows agree exactly too.
    assert torch.equal(ours.isfinite(), theirs.isfinite()), f"{(ours.isfinite() != theirs.isfinite()).any(-1).sum()} rows differ"
    torch.testing.assert_close(ours.double().softmax(-1), theirs.softmax(-1), rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)
    kept_counts = ours.isfinite().sum(-1)
    assert (kept_counts > 1).any() and (kept_counts < logits.isfinite().sum(-1)).any()  # neither greedy nor a no-op
