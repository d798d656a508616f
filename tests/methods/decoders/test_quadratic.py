"""Quadratic (smooth) sampling: hand-derived rows, every token kept, per-row maxima, vocabulary
permutations, and parity with text-generation-webui's ``QuadraticSamplingLogitsWarper``
formula re-implemented here in NumPy float64 (applied to one row at a time)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropy_bench.methods.decoders.quadratic import Quadratic
from entropy_bench.methods.registry import InvalidParameterError

from strategies import PARITY_ROWS, logit_rows, random_rows

NEG_INF = float("-inf")


def warp(row, dtype=torch.float64, **params):
    return Quadratic(**params)(torch.tensor([row], dtype=dtype))[0][0].tolist()


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        # d = (−3, −2, −1, 0), f = 1/4, z' = 3 − k·f·d² + s·f·d³
        (1.0, [0.75, 2.0, 2.75, 3.0]),  # k = 1, s = 0: 3 − d²/4
        (2.0, [-1.5, 1.5, 2.75, 3.0]),  # k = s = 1/2: 3 + (−d²/2 + d³/2)/4
        (3.0, [-3.75, 1.0, 2.75, 3.0]),  # k = 0, s = 1: 3 + d³/4
    ],
)
def test_hand_derived_rows(curve, expected):
    assert warp([0.0, 1.0, 2.0, 3.0], smoothing_factor=0.25, smoothing_curve=curve) == pytest.approx(expected, abs=1e-12)


def test_minus_inf_stays_and_every_finite_token_stays_finite():
    assert warp([1.0, NEG_INF, -2.0], smoothing_factor=0.25) == [1.0, NEG_INF, 1.0 - 0.25 * 9]
    # Extreme float32 logits: d² and d³ overflow float32 (and ∞ − ∞ would be NaN for c > 3).
    for curve in (1.0, 3.0, 10.0):
        out = Quadratic(smoothing_factor=10.0, smoothing_curve=curve)(torch.tensor([[3e38, -3e38, 0.0, NEG_INF]]))[0]
        assert out.isfinite().tolist() == [[True, True, True, False]], curve


def test_each_row_is_bent_around_its_own_maximum():
    # text-generation-webui takes scores.max() over the batch: row 0 would be bent around 11.
    batch = Quadratic(smoothing_factor=1.0)(torch.tensor([[0.0, 1.0], [10.0, 11.0]], dtype=torch.float64))[0]
    assert batch.tolist() == [[0.0, 1.0], [10.0, 11.0]]  # d = −1 → −1·1² below each max


def test_flattens_near_the_top_and_thins_the_tail():
    # Against the top token, log-odds go from d to −f·d²: gain for |d| < 1/f = 4, loss beyond.
    logits = torch.tensor([[0.0, -1.0, -4.0, -6.0]], dtype=torch.float64)
    before, after = logits.softmax(-1), Quadratic(smoothing_factor=0.25)(logits)[0].softmax(-1)
    ratio_before, ratio_after = before / before[:, :1], after / after[:, :1]
    assert ratio_after[0, 1] > ratio_before[0, 1]
    assert ratio_after[0, 2] == pytest.approx(ratio_before[0, 2].item())  # d = −4 = −1/f: unchanged
    assert ratio_after[0, 3] < ratio_before[0, 3]


def test_curves_above_three_lift_tokens_just_below_the_max_over_it():
    # c = 4: k = −1/2, s = 3/2; d = −0.2 → f·d²·(s·d − k) = 0.04 · 0.2 = +0.008, as in the reference.
    out = warp([0.0, -0.2, -2.0], smoothing_factor=1.0, smoothing_curve=4.0)
    assert out[1] == pytest.approx(0.008) and out[1] > out[0] and out[2] < out[0]


@pytest.mark.parametrize(("field", "params"), [
    ("smoothing_factor", {"smoothing_factor": 0.0}),
    ("smoothing_factor", {"smoothing_factor": -1.0}),
    ("smoothing_curve", {"smoothing_curve": 0.5}),
])
def test_rejects_a_flattening_factor_and_curves_below_one(field, params):
    with pytest.raises(InvalidParameterError) as err:
        Quadratic(**params)
    assert err.value.field == field


@settings(max_examples=60, deadline=None)
@given(logits=logit_rows(), factor=st.sampled_from([1e-3, 0.25, 4.0]), curve=st.sampled_from([1.0, 2.0, 3.0]))
def test_keeps_the_support_and_the_ranking_for_curves_up_to_three(logits, factor, curve):
    out = Quadratic(smoothing_factor=factor, smoothing_curve=curve)(logits)[0]
    assert torch.equal(out.isfinite(), logits.isfinite())
    # z ↦ z' is non-decreasing for 1 ≤ c ≤ 3: no pair of tokens changes order (ties may form).
    finite = logits.isfinite()
    for b in range(logits.shape[0]):
        z, w = logits[b, finite[b]], out[b, finite[b]]
        assert not ((z.unsqueeze(0) < z.unsqueeze(1)) & (w.unsqueeze(0) > w.unsqueeze(1))).any()
    assert torch.equal(out.amax(-1), logits.amax(-1))  # the maximum is a fixed point


@settings(max_examples=60, deadline=None)
@given(logits=logit_rows(), curve=st.sampled_from([1.0, 3.0, 10.0]), seed=st.integers(0, 2**31 - 1))
def test_permuting_the_vocabulary_permutes_the_output(logits, curve, seed):
    perm = torch.randperm(logits.shape[-1], generator=torch.Generator().manual_seed(seed))
    decoder = Quadratic(smoothing_factor=0.25, smoothing_curve=curve)
    assert torch.equal(decoder(logits[:, perm])[0], decoder(logits)[0][:, perm])


def webui_quadratic(scores: np.ndarray, smoothing_factor: float, smoothing_curve: float) -> np.ndarray:
    """text-generation-webui's QuadraticSamplingLogitsWarper.__call__ in float64, on one row."""
    max_logit = scores.max()
    diff = scores - max_logit
    k = (3 - smoothing_curve) / 2
    s = (smoothing_curve - 1) / 2
    with np.errstate(invalid="ignore"):
        transformed = -(k * smoothing_factor * diff**2) + (s * smoothing_factor * diff**3) + max_logit
    return np.where(scores != -np.inf, transformed, scores)


@pytest.fixture(scope="module")
def parity_rows() -> dict[int, torch.Tensor]:
    return {vocab: random_rows(count, vocab, seed=vocab) for vocab, count in PARITY_ROWS.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("vocab", list(PARITY_ROWS))
@pytest.mark.parametrize(("factor", "curve"), [(0.25, 1.0), (1.0, 1.0), (0.1, 2.0), (0.5, 3.0), (0.3, 6.0)])
def test_same_logits_and_probabilities_as_text_generation_webui(parity_rows, factor, curve, vocab, dtype):
    logits = parity_rows[vocab].to(dtype)
    ours = torch.cat([Quadratic(smoothing_factor=factor, smoothing_curve=curve)(chunk)[0] for chunk in logits.split(32)])
    theirs = torch.from_numpy(np.stack([webui_quadratic(row, factor, curve) for row in logits.double().numpy()]))
    assert torch.equal(ours.isfinite(), theirs.isfinite())
    if dtype == torch.float64:
        finite = theirs.isfinite()
        torch.testing.assert_close(ours[finite], theirs[finite], rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(ours.double().softmax(-1), theirs.softmax(-1), rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)
