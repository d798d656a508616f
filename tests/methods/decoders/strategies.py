"""Logit rows shared by the decoder tests: a hypothesis strategy and seeded parity batches."""

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


PARITY_ROWS = {7: 1000, 1000: 1000, 49152: 64}  # vocabulary → rows: 2064 per setting, as test_hf_parity.py


def random_rows(count: int, vocab: int, seed: int) -> torch.Tensor:
    """Float64 rows, per-row scale 0.3 to 10, −inf entries in about 30 % of the rows."""
    generator = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.3, 1.0, 3.0, 10.0], dtype=torch.float64)[torch.randint(0, 4, (count, 1), generator=generator)]
    logits = torch.randn(count, vocab, generator=generator, dtype=torch.float64) * scale
    masked = (torch.rand(count, vocab, generator=generator) < 0.1) & (torch.rand(count, 1, generator=generator) < 0.3)
    masked[:, 0] = False
    return logits.masked_fill(masked, NEG_INF)
