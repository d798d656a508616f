import torch

from entropy_bench.methods.decoders.greedy import Greedy

NEG_INF = float("-inf")


def test_keeps_only_the_most_probable_token():
    logits = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]]).log()
    assert Greedy()(logits)[0].isfinite().tolist() == [[False, True, False], [True, False, False]]


def test_ties_go_to_the_first_index_and_values_pass_unchanged():
    logits = torch.tensor([[2.0, 5.0, 5.0, NEG_INF]])
    warped, _ = Greedy()(logits)
    assert warped.tolist() == [[NEG_INF, 5.0, NEG_INF, NEG_INF]]


def test_is_marked_deterministic():
    assert Greedy.deterministic
