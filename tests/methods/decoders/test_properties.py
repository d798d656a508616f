"""Properties every registered decoder must have, on hypothesis-generated logits.

The output is a valid masked distribution over a subset of the input's support, rows do not
interact, the input is never mutated, and the no-op parameter values are exact identities.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropy_bench.methods.decoders.temperature import Temperature
from entropy_bench.methods.decoders.top_k import TopK
from entropy_bench.methods.decoders.top_p import TopP
from entropy_bench.methods.decoders.xtc import XTC
from entropy_bench.methods.registry import DECODERS

NEG_INF = float("-inf")


@st.composite
def logit_rows(draw, max_batch: int = 4, max_vocab: int = 40) -> torch.Tensor:
    """Logits[B, V] in [−30, 30] with ties, −inf entries and one-hot rows; every row has a finite entry."""
    batch = draw(st.integers(1, max_batch))
    vocab = draw(st.integers(1, max_vocab))
    value = st.one_of(
        st.floats(-30, 30, allow_nan=False, width=32),
        st.sampled_from([0.0, 1.0, 5.0, NEG_INF]),
    )
    rows = draw(st.lists(st.lists(value, min_size=vocab, max_size=vocab), min_size=batch, max_size=batch))
    logits = torch.tensor(rows, dtype=torch.float32)
    finite_anchor = draw(st.integers(0, vocab - 1))
    logits[:, finite_anchor] = torch.where(logits[:, finite_anchor].isfinite(), logits[:, finite_anchor], 0.0)
    return logits


@settings(max_examples=40, deadline=None)
@given(logits=logit_rows())
def test_output_is_a_masked_distribution_over_the_input_support(decoder, logits):
    before = logits.clone()
    warped, _ = decoder(logits)
    assert torch.equal(logits, before), "the input was mutated"
    assert warped.shape == logits.shape and warped.dtype == logits.dtype
    assert not warped.isnan().any()
    kept = warped.isfinite()
    assert not (kept & ~logits.isfinite()).any(), "a token outside the input's support came back"
    assert (kept.sum(-1) >= 1).all(), "a row lost every token"
    assert (warped != float("inf")).all()
    sums = warped.softmax(-1).sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(logits=logit_rows())
def test_rows_are_independent(decoder, logits):
    batch, _ = decoder(logits)
    for b in range(logits.shape[0]):
        alone, _ = decoder(logits[b : b + 1])
        assert torch.equal(batch[b].isfinite(), alone[0].isfinite())
        torch.testing.assert_close(batch[b], alone[0], rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(vocab=st.integers(1, 40), index=st.integers(0, 39), value=st.floats(-30, 30, width=32))
def test_one_hot_rows_keep_their_token(decoder, vocab, index, value):
    logits = torch.full((1, vocab), NEG_INF)
    logits[0, index % vocab] = value
    warped, _ = decoder(logits)
    assert warped.isfinite().tolist() == logits.isfinite().tolist()


@settings(max_examples=60, deadline=None)
@given(logits=logit_rows())
def test_no_op_parameters_are_identities(logits):
    vocab = logits.shape[-1]
    xtc_off = (XTC(xtc_probability=0.0), XTC(xtc_probability=1.0, xtc_threshold=0.0), XTC(xtc_probability=1.0, xtc_threshold=0.6))
    for identity in (Temperature(temperature=1.0), TopP(top_p=1.0), TopK(top_k=vocab), *xtc_off):
        assert torch.equal(identity(logits)[0], logits), identity.id


def test_registry_entry_has_a_paper_a_docstring_and_rebuilds_from_its_params(decoder):
    entry = DECODERS.get(decoder.name)
    assert entry.paper and entry.summary
    assert DECODERS.build(decoder.name, **decoder.params) == decoder
