import pytest
import torch
from transformers.generation.logits_process import EpsilonLogitsWarper

from entropy_bench.methods.decoders.epsilon import Epsilon
from entropy_bench.methods.registry import InvalidParameterError


@pytest.mark.parametrize(
    ("epsilon", "kept"),
    [
        (0.005, [True, True, True, True]),
        (0.05, [True, True, True, False]),
        (0.2, [True, True, False, False]),
        (0.5, [True, False, False, False]),
        (0.99, [True, False, False, False]),  # nothing reaches 0.99: the argmax stays
    ],
)
def test_keeps_tokens_with_probability_at_least_epsilon(epsilon, kept):
    logits = torch.tensor([[0.6, 0.3, 0.09, 0.01]]).log()
    assert Epsilon(epsilon=epsilon)(logits)[0].isfinite().tolist() == [kept]


@pytest.mark.parametrize("epsilon", [3e-4, 0.01, 0.3, 0.999])
@pytest.mark.parametrize("vocab", [2, 50, 10000])
def test_flat_and_tied_top_rows_keep_every_maximum_as_transformers(epsilon, vocab):
    # When no token reaches ε, transformers keeps scores ≥ topk(scores, 1), i.e. every token tied
    # with the maximum: a flat row (p = 1/V) comes back whole, not as its lowest id.
    generator = torch.Generator().manual_seed(vocab)
    rows = [torch.zeros(vocab, dtype=torch.float64)]
    for ties in (2, vocab // 2 or 1):
        row = torch.randn(vocab, generator=generator, dtype=torch.float64)
        row[torch.randperm(vocab, generator=generator)[:ties]] = 4.0
        rows.append(row)
    logits = torch.stack(rows)
    ours = Epsilon(epsilon=epsilon)(logits)[0]
    theirs = EpsilonLogitsWarper(epsilon)(None, logits)
    assert torch.equal(ours.isfinite(), theirs.isfinite())
    assert (ours.isfinite() >= (logits == logits.amax(-1, keepdim=True))).all()
    assert ours[0].isfinite().all()


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_rejects_epsilon_outside_open_0_1(epsilon):
    with pytest.raises(InvalidParameterError) as err:
        Epsilon(epsilon=epsilon)
    assert err.value.field == "epsilon"
