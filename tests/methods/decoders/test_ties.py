"""No decoder prefers low token ids: permuting the vocabulary permutes the output.

A rule that keeps "at least one token" by taking the argmax (first on ties), or that decides tied
tokens by their position in a sort, keeps some of a tie group and drops the rest according to
their ids. Every sampling decoder must instead treat tied tokens alike, so for any permutation π
of the vocabulary, ``decoder(logits[:, π]) == decoder(logits)[:, π]``. A flat row is invariant
under every permutation, so it must come back whole.

Deterministic decoders (greedy, and EAD, whose draws are greedy) are exempt: they return one token
by definition, ``torch.argmax``'s (first on ties), as transformers' greedy search does.

The logits are float64 values from a small set (ties everywhere, −inf included), flat rows and rows
whose maximum is tied: a permutation reorders the softmax normaliser's sum, which in float64 moves
no statistic across a cut-off on such rows.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.generation.logits_process import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    MinPLogitsWarper,
    TopKLogitsWarper,
)

from entropy_bench.methods.registry import DECODERS

NEG_INF = float("-inf")
VALUES = [NEG_INF, -4.0, -1.5, 0.0, 0.5, 2.0, 3.0]


@st.composite
def tied_rows(draw, max_batch: int = 3, max_vocab: int = 24) -> tuple[torch.Tensor, list[int]]:
    """Logits[B, V] in float64 with many ties (from ``VALUES``, some rows flat, some with a tied
    maximum), every row with a finite entry, and a permutation of the vocabulary."""
    batch = draw(st.integers(1, max_batch))
    vocab = draw(st.integers(1, max_vocab))
    rows = []
    for _ in range(batch):
        kind = draw(st.sampled_from(["flat", "tied-max", "mixed"]))
        if kind == "flat":
            rows.append([draw(st.sampled_from(VALUES[1:]))] * vocab)
            continue
        row = draw(st.lists(st.sampled_from(VALUES), min_size=vocab, max_size=vocab))
        if kind == "tied-max":
            top = draw(st.sampled_from([3.0, 6.0]))
            for v in draw(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=vocab)):
                row[v] = top
        if all(x == NEG_INF for x in row):
            row[draw(st.integers(0, vocab - 1))] = 0.0
        rows.append(row)
    permutation = draw(st.permutations(range(vocab)))
    return torch.tensor(rows, dtype=torch.float64), list(permutation)


@settings(max_examples=60, deadline=None)
@given(case=tied_rows())
def test_permuting_the_vocabulary_permutes_the_output(decoder, case):
    if decoder.deterministic:
        pytest.skip("deterministic decoders return torch.argmax's token (first on ties) by definition")
    logits, permutation = case
    perm = torch.tensor(permutation)
    warped, _ = decoder(logits)
    warped_of_permuted, _ = decoder(logits[:, perm])
    kept, kept_of_permuted = warped[:, perm].isfinite(), warped_of_permuted.isfinite()
    assert torch.equal(kept, kept_of_permuted), (
        f"kept {kept.int().tolist()} but {kept_of_permuted.int().tolist()} after permuting {permutation}"
    )
    torch.testing.assert_close(warped[:, perm], warped_of_permuted, rtol=1e-9, atol=0)  # temperature searches (entropy_band) round


@pytest.mark.parametrize("vocab", [1, 7, 5000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_flat_rows_come_back_whole(decoder, vocab, dtype):
    if decoder.deterministic:
        pytest.skip("deterministic decoders return torch.argmax's token (first on ties) by definition")
    logits = torch.full((2, vocab), 1.5, dtype=dtype)
    warped, _ = decoder(logits)
    assert warped.isfinite().all(), f"kept {warped.isfinite().sum(-1).tolist()} of {vocab}"


def tied_top_rows(vocab: int, seed: int) -> torch.Tensor:
    """Random float64 rows (scales 0.3 to 10) whose maximum is shared by 1, 3 or 7 tokens spread
    over the vocabulary, plus a flat row."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for scale in (0.3, 1.0, 3.0, 10.0):
        for ties in (1, 3, 7):
            row = torch.randn(vocab, generator=generator, dtype=torch.float64) * scale
            row[torch.randperm(vocab, generator=generator)[:ties]] = row.max() + 1.0
            rows.append(row)
    rows.append(torch.zeros(vocab, dtype=torch.float64))
    return torch.stack(rows)


@pytest.mark.parametrize("vocab", [7, 1000, 20000])
@pytest.mark.parametrize(
    ("name", "field", "warper", "value"),
    [
        ("epsilon", "epsilon", EpsilonLogitsWarper, 3e-4),
        ("epsilon", "epsilon", EpsilonLogitsWarper, 0.2),
        ("epsilon", "epsilon", EpsilonLogitsWarper, 0.999),
        ("eta", "epsilon", EtaLogitsWarper, 3e-4),
        ("eta", "epsilon", EtaLogitsWarper, 0.999),
        ("min_p", "min_p", MinPLogitsWarper, 0.1),
        ("min_p", "min_p", MinPLogitsWarper, 1.0),
        ("top_k", "top_k", TopKLogitsWarper, 1),
        ("top_k", "top_k", TopKLogitsWarper, 5),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_tied_maxima_as_transformers_in_float64(name, field, warper, value, vocab):
    # These warpers keep every token tied with the maximum (epsilon and eta through
    # ``scores < topk(scores, 1)``, top_k through ties with the k-th, min_p because p_max
    # reaches min_p · p_max): the rules must agree with them exactly, flat rows included.
    logits = tied_top_rows(vocab, seed=vocab)
    ours, _ = DECODERS.build(name, **{field: value})(logits)
    theirs = warper(value)(None, logits)
    assert torch.equal(ours.isfinite(), theirs.isfinite())
    assert torch.equal(ours[ours.isfinite()], logits[ours.isfinite()])


def test_top_p_keeps_or_drops_a_tie_group_whole():
    # p = (0.4, 0.2, 0.2, 0.2): top_p = 0.5 needs one of the 0.2s after the 0.4. Transformers keeps
    # the one its sort puts last; the rule keeps all three, since the tokens at most as probable as
    # any of them (its ties included) hold 0.6 > 1 − top_p.
    logits = torch.tensor([[0.4, 0.2, 0.2, 0.2]], dtype=torch.float64).log()
    top_p = DECODERS.build("top_p", top_p=0.5)
    assert top_p(logits)[0].isfinite().tolist() == [[True, True, True, True]]
    # top_p = 0.3: the 0.4 alone reaches it, and the 0.2s (0.6 ≤ 0.7 of the mass) all go.
    assert DECODERS.build("top_p", top_p=0.3)(logits)[0].isfinite().tolist() == [[True, False, False, False]]
    # A flat row and a tiny top_p: every token tied with the maximum stays.
    flat = torch.zeros(1, 6)
    assert DECODERS.build("top_p", top_p=1e-9)(flat)[0].isfinite().all()


@pytest.mark.parametrize("vocab", [300, 5000, 49152])
def test_top_p_ties_across_the_candidate_boundary(vocab):
    # A tied group of 200 at the top and one of 500 below it: the first ranking of 256 candidates
    # cuts the second group; the whole group must still get one decision, in every ranking size.
    generator = torch.Generator().manual_seed(0)
    row = torch.randn(vocab, generator=generator, dtype=torch.float64) - 8.0
    ids = torch.randperm(vocab, generator=generator)
    row[ids[:200]] = 0.0
    row[ids[200:700]] = -0.5
    logits = row.unsqueeze(0)
    for top_p in (0.3, 0.8, 0.9, 0.99):
        kept = DECODERS.build("top_p", top_p=top_p)(logits)[0].isfinite()[0]
        for group in (ids[:200], ids[200:700]):
            assert kept[group].all() or not kept[group].any(), top_p
        perm = torch.randperm(vocab, generator=generator)
        assert torch.equal(DECODERS.build("top_p", top_p=top_p)(logits[:, perm])[0].isfinite()[0], kept[perm])


def test_top_h_takes_every_token_tied_with_the_kth_candidate():
    # 150 tokens tied at the top, top_k = 100: transformers takes 100 of them, by index, as its
    # candidates; the rule takes all 150 (H = log 150 over them) and keeps them all.
    logits = torch.full((1, 400), -5.0)
    logits[0, torch.randperm(400, generator=torch.Generator().manual_seed(0))[:150]] = 2.0
    warped, _ = DECODERS.build("top_h", top_h=0.4, top_k=100)(logits)
    assert warped.isfinite().sum().item() == 150
    assert torch.equal(warped.isfinite(), logits == 2.0)


def test_top_h_cut_inside_a_tie_group_keeps_the_group():
    # p ∝ (4, 1, 1, 1, 1): the cut at top_h · H falls inside the group of 1s, which stays whole.
    probs = torch.tensor([[4.0, 1.0, 1.0, 1.0, 1.0]], dtype=torch.float64) / 8.0
    entropy = -(probs * probs.log()).sum().item()
    first_two = -(probs[0, :2] * probs[0, :2].log()).sum().item()
    top_h = first_two / entropy + 1e-3  # the max and one of its followers fit, the third would not
    assert -(probs[0, :3] * probs[0, :3].log()).sum().item() > top_h * entropy
    warped, _ = DECODERS.build("top_h", top_h=top_h)(probs.log())
    assert warped.isfinite().tolist() == [[True] * 5]
    assert math.isfinite(warped[0, 0].item())
