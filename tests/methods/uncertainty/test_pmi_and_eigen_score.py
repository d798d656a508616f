"""pointwise_mutual_information and eigen_score: hand-computed values, LM-Polygraph's formulas
(copied here as independent references), and the forward passes they read (``bench/scoring.py``)
against one unpadded forward pass of the tiny model per sequence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import eigh

from entropy_bench.calculators.answer_lm_logprobs import AnswerLMLogprobs
from entropy_bench.calculators.sample_hidden_states import SampleHiddenStates
from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.eigen_score import EigenScore, eigen_score
from entropy_bench.methods.uncertainty.pointwise_mutual_information import (
    PointwiseMutualInformation,
    mean_pmi_uncertainty,
)
from entropy_bench.models.hf import load_model
from entropy_bench.scoring import continuation_logprobs, last_hidden_states


def gen(logprob: list[float]) -> Generation:
    n = len(logprob)
    return Generation(text="x", token_ids=list(range(n)), logprob=logprob, entropy=[0.1] * n, warped_logprob=logprob,
                      warped_entropy=[0.1] * n, top_ids=[], top_logprobs=[], finish_reason="eos")


# --- PMI -----------------------------------------------------------------------------------------


def polygraph_mean_pmi(lp, lm_lp) -> float:
    """LM-Polygraph 0.7.0's ``MeanPointwiseMutualInformation``, for one answer."""
    return -np.mean([lp[t] - (lm_lp[t] if t > 0 else 0) for t in range(len(lp))])


def test_pmi_by_hand_and_against_lm_polygraph():
    # PMI = [-1 - 0, -2 + 3, -0.5 + 0.5] = [-1, 1, 0]: mean 0
    assert mean_pmi_uncertainty([-1.0, -2.0, -0.5], [math.nan, -3.0, -0.5]) == pytest.approx(0.0, abs=1e-15)
    assert mean_pmi_uncertainty([-0.1], [math.nan]) == pytest.approx(0.1)
    rng = np.random.default_rng(0)
    answers = [-rng.exponential(size=n) for n in (1, 3, 7)]
    unconditional = [np.concatenate([[math.nan], -rng.exponential(size=len(a) - 1)]) for a in answers]
    m = PointwiseMutualInformation()
    assert m.requires == {"generations", AnswerLMLogprobs()}
    scores = m({"generations": [gen(list(a)) for a in answers], AnswerLMLogprobs(): unconditional})
    assert scores == pytest.approx([polygraph_mean_pmi(a, u) for a, u in zip(answers, unconditional)], abs=1e-12)


def test_pmi_of_a_non_finite_log_prob_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match=r"pointwise_mutual_information: .*1 of 2 examples"):
        out = PointwiseMutualInformation()({"generations": [gen([-math.inf, -1.0]), gen([-1.0])],
                                            AnswerLMLogprobs(): [[math.nan, -1.0], [math.nan]]})
    assert np.isnan(out[0]) and out[1] == pytest.approx(1.0)


# --- EigenScore ----------------------------------------------------------------------------------


def polygraph_eigen_score(embeddings: np.ndarray, alpha: float = 1e-3) -> float:
    """LM-Polygraph 0.7.0's ``EigenScore``, for one example."""
    dim = embeddings.shape[-1]
    j_d = np.eye(dim) - 1 / dim * np.ones((dim, dim))
    covariance = embeddings @ j_d @ embeddings.T
    eigenvalues = eigh(covariance + alpha * np.eye(covariance.shape[0]), eigvals_only=True)
    return float(np.mean(np.log([v if v > 0 else 1e-10 for v in eigenvalues])))


def test_eigen_score_by_hand():
    alpha = 1e-3
    # two samples whose centred embeddings are orthogonal with squared norms 2 and 2: λ = 2 + α twice
    z = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    assert eigen_score(z, alpha) == pytest.approx(math.log(2 + alpha), abs=1e-12)
    # K identical samples c: rank one, λ = K |c − mean(c)|² and 0 (K − 1 times), plus α
    c = np.array([3.0, 1.0, 2.0])
    k, norm2 = 4, float(np.sum((c - c.mean()) ** 2))
    expected = (math.log(k * norm2 + alpha) + (k - 1) * math.log(alpha)) / k
    assert eigen_score(np.tile(c, (k, 1)), alpha) == pytest.approx(expected, abs=1e-12)


def test_eigen_score_against_lm_polygraph_and_grows_with_dispersion():
    rng = np.random.default_rng(1)
    base = rng.normal(size=16)
    for spread in (0.01, 0.1, 1.0):
        z = base + spread * rng.normal(size=(5, 16))
        assert eigen_score(z, 1e-3) == pytest.approx(polygraph_eigen_score(z), abs=1e-9)
    scores = [eigen_score(base + s * rng.normal(size=(5, 16)), 1e-3) for s in (0.01, 0.1, 1.0, 10.0)]
    assert scores == sorted(scores)


def test_eigen_score_measure_reads_the_hidden_states():
    m = EigenScore()
    assert m.requires == {SampleHiddenStates(None)} and m.id == "eigen_score(alpha=0.001,layer=None)"
    states = [torch.eye(2, 4), torch.full((3, 4), float("nan"))]
    with pytest.warns(RuntimeWarning, match=r"eigen_score\(.*1 of 2 examples: a non-finite hidden state"):
        out = m({SampleHiddenStates(None): states})
    assert out[0] == pytest.approx(eigen_score(np.eye(2, 4), 1e-3)) and np.isnan(out[1])


@pytest.mark.parametrize(("params", "field"), [({"alpha": 0.0}, "alpha"), ({"layer": -1}, "layer")])
def test_eigen_score_refuses_bad_parameters(params, field):
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build("eigen_score", **params)
    assert err.value.field == field


# --- the forward passes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_continuation_logprobs_equal_one_unpadded_forward_pass_each(lm):
    contexts = [[5, 6, 7, 8], [], [9]]
    continuations = [[10, 11], [12, 13, 14], [15]]
    got = continuation_logprobs(lm, contexts, continuations, batch_size=2)
    for ctx, cont, values in zip(contexts, continuations, got):
        ids = torch.tensor([ctx + cont])
        with torch.no_grad():
            logp = lm.model(ids).logits[0].double().log_softmax(-1)
        for t, token in enumerate(cont):
            position = len(ctx) + t - 1
            if position < 0:
                assert math.isnan(values[t])
            else:
                assert values[t] == pytest.approx(float(logp[position, token]), abs=1e-4)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_last_hidden_states_equal_one_unpadded_forward_pass_each(lm, layer):
    prompt = [5, 6, 7, 8]
    continuations = [[9, 10, 11], [12], [], [13, 14, 15, 16, 17], [18, 19]]  # 3 batches of 2, padded, one empty
    got = last_hidden_states(lm, prompt, continuations, layer=layer, batch_size=2)
    assert got.shape == (len(continuations), lm.model.config.n_embd) and got.dtype == torch.float32
    for row, continuation in enumerate(continuations):
        with torch.no_grad():
            hidden = lm.model(torch.tensor([prompt + continuation]), output_hidden_states=True).hidden_states
        torch.testing.assert_close(got[row], hidden[layer][0, -1].float(), atol=1e-4, rtol=0)


def test_last_hidden_states_run_the_prompt_once(lm):
    widths = []
    forward = lm.model.forward
    lm.model.forward = lambda input_ids, **kw: widths.append(tuple(input_ids.shape)) or forward(input_ids, **kw)
    try:
        last_hidden_states(lm, [5, 6, 7, 8, 9, 10], [[11, 12], [13], [14, 15, 16]], layer=1, batch_size=2)
    finally:
        del lm.model.forward
    assert widths == [(1, 6), (2, 2), (1, 3)]
