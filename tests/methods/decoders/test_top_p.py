import importlib

import pytest
import torch

from entropy_bench.methods.decoders.top_p import TopP
from entropy_bench.methods.registry import InvalidParameterError

PROBS = [0.5, 0.3, 0.15, 0.05]  # cumulative from the top: 0.5, 0.8, 0.95, 1.0


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [
        (0.4, [True, False, False, False]),  # 0.5 alone reaches 0.4
        (0.6, [True, True, False, False]),  # 0.5 < 0.6 ≤ 0.8
        (0.9, [True, True, True, False]),  # 0.8 < 0.9 ≤ 0.95
        (0.97, [True, True, True, True]),
    ],
)
def test_keeps_the_smallest_top_set_reaching_top_p(top_p, kept):
    logits = torch.tensor([PROBS]).log()
    assert TopP(top_p=top_p)(logits)[0].isfinite().tolist() == [kept]


def test_top_p_one_keeps_negligible_tail_tokens():
    # exp(−30) ≈ 1e-13: the mass above them rounds to 1 in float32, yet top_p = 1 must keep them.
    logits = torch.tensor([[0.0, -30.0, -30.0, float("-inf")]])
    assert torch.equal(TopP(top_p=1.0)(logits)[0], logits)


def test_tiny_top_p_keeps_the_argmax():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    assert TopP(top_p=1e-9)(logits)[0].isfinite().tolist() == [[False, True, False]]


@pytest.mark.parametrize("top_p", [0.0, 1.5, -0.1])
def test_rejects_top_p_outside_0_1(top_p):
    with pytest.raises(InvalidParameterError) as err:
        TopP(top_p=top_p)
    assert err.value.field == "top_p"


@pytest.mark.parametrize("top_p", [0.9, 0.99])
def test_rows_settled_at_every_candidate_size_match_transformers_exactly_in_float64(top_p, monkeypatch):
    # Zipf rows (p ∝ rank^−s) whose nucleus needs from a few to tens of thousands of tokens, in one
    # batch: settled from 256 candidates, from 4096, and by the full ranking (all three happen).
    from transformers.generation.logits_process import TopPLogitsWarper

    sizes = []
    module = importlib.import_module("entropy_bench.methods.decoders.top_p")
    by_candidates = module.by_candidates
    monkeypatch.setattr(
        module, "by_candidates", lambda z, warp_top, needed: by_candidates(z, lambda r, k: sizes.append(k) or warp_top(r, k), needed)
    )
    ranks = torch.arange(1, 49153, dtype=torch.float64)
    logits = torch.stack([-s * ranks.log() for s in (2.0, 1.6, 1.3, 1.2, 1.0, 0.6, 0.1)])
    logits = logits[:, torch.randperm(49152, generator=torch.Generator().manual_seed(0))]
    ours, _ = TopP(top_p=top_p)(logits)
    theirs = TopPLogitsWarper(top_p)(None, logits)
    assert sizes == [256, 4096, 49152]
    assert torch.equal(ours.isfinite(), theirs.isfinite())
    torch.testing.assert_close(ours.softmax(-1), theirs.softmax(-1), rtol=0, atol=1e-12)
