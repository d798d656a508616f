"""Hypothesis strategies shared by the decoder tests."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

NEG_INF = float("-inf")


@st.composite
def logit_rows(draw, max_batch: int = 4, max_vocab: int = 40) -> torch.Tensor:
    """Logits[B, V] in [−30, 30] with ties and −inf entries; every row has a finite entry."""
    batch, vocab = draw(st.integers(1, max_batch)), draw(st.integers(1, max_vocab))
    value = st.one_of(st.floats(-30, 30, width=32), st.sampled_from([0.0, 1.0, 5.0, NEG_INF]))
    logits = torch.tensor(draw(st.lists(st.lists(value, min_size=vocab, max_size=vocab), min_size=batch, max_size=batch)))
    anchor = draw(st.integers(0, vocab - 1))
    logits[:, anchor] = torch.where(logits[:, anchor].isfinite(), logits[:, anchor], 0.0)
    return logits
