import pytest
import torch

from entropy_bench.methods.decoders.top_k import TopK, kth_largest
from entropy_bench.methods.registry import InvalidParameterError

NEG_INF = float("-inf")


def test_keeps_the_k_largest_logits():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [0.0, -1.0, 4.0, 5.0]])
    kept = TopK(top_k=2)(logits)[0].isfinite().tolist()
    assert kept == [[False, True, True, False], [False, False, True, True]]


def test_ties_with_the_kth_logit_are_all_kept():
    logits = torch.tensor([[1.0, 2.0, 2.0, 0.0]])
    assert TopK(top_k=1)(logits)[0].isfinite().tolist() == [[False, True, True, False]]


def test_k_at_least_the_vocabulary_is_the_identity():
    logits = torch.tensor([[1.0, NEG_INF, -3.0]])
    assert torch.equal(TopK(top_k=3)(logits)[0], logits)
    assert torch.equal(TopK(top_k=1000)(logits)[0], logits)


def test_per_row_k():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    assert kth_largest(logits, torch.tensor([1, 3])).tolist() == [[4.0], [2.0]]


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_rejects_anything_but_a_positive_integer(top_k):
    with pytest.raises(InvalidParameterError) as err:
        TopK(top_k=top_k)
    assert err.value.field == "top_k"
