import math

import pytest
import torch

from entropy_bench.methods.decoders.top_h import TopH
from entropy_bench.methods.registry import InvalidParameterError

PROBS = [0.5, 0.25, 0.15, 0.1]
TERMS = [-p * math.log(p) for p in PROBS]  # 0.347, 0.347, 0.285, 0.230; H = 1.208 nats
PARTIAL = [sum(TERMS[: i + 1]) for i in range(len(TERMS))]  # 0.347, 0.693, 0.978, 1.208


@pytest.mark.parametrize(("top_h", "count"), [(0.2, 1), (0.5, 1), (0.6, 2), (0.9, 3)])
def test_keeps_tokens_while_the_cumulative_entropy_is_within_top_h_times_h(top_h, count):
    # 0.2·H = 0.242 and 0.5·H = 0.604 admit no partial sum, yet the top token stays;
    # 0.6·H = 0.725 admits 0.693; 0.9·H = 1.087 admits 0.978.
    bound = top_h * PARTIAL[-1]
    assert max(1, sum(s <= bound for s in PARTIAL)) == count
    logits = torch.tensor([PROBS]).log()
    assert TopH(top_h=top_h)(logits)[0].isfinite().tolist() == [[i < count for i in range(4)]]


def test_candidates_are_the_top_k_renormalised():
    # p = (0.5, 0.3, 0.1, 0.1), top_h = 0.9. Whole vocabulary: H = 1.168, partial sums 0.347, 0.708,
    # 0.938, 1.168 against 1.052 → three tokens. Top two only, renormalised to (0.625, 0.375):
    # H = 0.662, partial sums 0.294, 0.662 against 0.595 → the top token alone.
    logits = torch.tensor([[0.5, 0.3, 0.1, 0.1]]).log()
    whole = TopH(top_h=0.9, top_k=4)(logits)[0].isfinite()
    assert whole.tolist() == [[True, True, True, True]]  # the tied 0.1s stay or go together
    assert TopH(top_h=0.9, top_k=2)(logits)[0].isfinite().tolist() == [[True, False, False, False]]


def test_minus_inf_candidates_contribute_no_entropy():
    # (0.5, 0.3, 0.2, 0, 0): H = 1.030, partial sums 0.347, 0.708, 1.030, then no more;
    # 0.75·H = 0.772 admits two.
    logits = torch.tensor([[0.5, 0.3, 0.2, 0.0, 0.0]]).log()
    assert TopH(top_h=0.75)(logits)[0].isfinite().tolist() == [[True, True, False, False, False]]


@pytest.mark.parametrize(("field", "value"), [("top_h", 0.0), ("top_h", 1.5), ("top_k", 0), ("top_k", 2.0)])
def test_rejects_invalid_parameters(field, value):
    with pytest.raises(InvalidParameterError) as err:
        TopH(**{field: value})
    assert err.value.field == field
