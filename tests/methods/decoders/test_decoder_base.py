import torch

from entropy_bench.methods.decoders.base import Chain, build_decoder, by_candidates, mask_outside
from entropy_bench.methods.decoders.mirostat import MirostatV2
from entropy_bench.methods.decoders.temperature import Temperature

NEG_INF = float("-inf")


def test_mask_outside_keeps_the_argmax():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, 5.0, 1.0]])
    nothing = torch.zeros_like(logits, dtype=torch.bool)
    assert mask_outside(logits, nothing).tolist() == [[NEG_INF, 3.0, NEG_INF], [NEG_INF, 5.0, NEG_INF]]
    assert not nothing.any(), "mask_outside mutated keep"
    some = torch.tensor([[True, False, False], [False, False, True]])
    assert mask_outside(logits, some).tolist() == [[1.0, 3.0, NEG_INF], [NEG_INF, 5.0, 1.0]]


def test_chain_observes_each_decoder_on_the_logits_it_was_given():
    # In temperature+mirostat_v2, Mirostat's surprise is that of the tempered distribution.
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 0.5, 1.0, 1.5]])
    tokens = torch.tensor([1, 2])
    mirostat = MirostatV2(tau=1.0, eta=0.5)
    chain = Chain((Temperature(temperature=0.5), mirostat))
    state = chain.init_state(2, logits.device)
    _, state = chain(logits, state)
    observed = chain.observe(state, logits, tokens)
    start = mirostat.init_state(2, logits.device)
    tempered = mirostat.observe(mirostat(logits / 0.5, start)[1], logits / 0.5, tokens)
    untempered = mirostat.observe(mirostat(logits, start)[1], logits, tokens)
    torch.testing.assert_close(observed.states[1].mu, tempered.mu)
    assert not torch.allclose(observed.states[1].mu, untempered.mu)


def test_build_decoder_from_specs():
    assert build_decoder("greedy").id == "greedy"
    assert build_decoder({"name": "top_k", "top_k": 5}).id == "top_k(top_k=5)"
    chain = build_decoder([{"name": "temperature", "temperature": 0.7}, {"name": "min_p", "min_p": 0.05}])
    assert chain.id == "temperature(temperature=0.7)+min_p(min_p=0.05)"


def test_by_candidates_escalates_each_row_until_it_is_settled():
    # Row r is settled by k ≥ need[r]; the fake rule writes k into the row so we see who settled it.
    need = torch.tensor([3, 10, 40, 5])
    calls = []

    def warp_top(rows, k):
        calls.append((k, rows.tolist()))
        return torch.full((len(rows), 64), float(k)), need[rows] <= k, torch.zeros(len(rows))

    warped = by_candidates(torch.zeros(4, 64), warp_top, needed=torch.zeros(4), sizes=(4, 16))
    assert warped[:, 0].tolist() == [4.0, 16.0, 64.0, 16.0]
    assert calls == [(4, [0, 1, 2, 3]), (16, [1, 2, 3]), (64, [2])]


def test_by_candidates_skips_sizes_below_the_bounds():
    # Row 0 needs ≥ 10 tokens from the start (skips 4); row 1 learns at k = 4 that it needs ≥ 20 (skips 16).
    calls = []

    def warp_top(rows, k):
        calls.append((k, rows.tolist()))
        return torch.zeros(len(rows), 64), torch.full((len(rows),), k == 64), torch.full((len(rows),), 20.0)

    by_candidates(torch.zeros(2, 64), warp_top, needed=torch.tensor([10.0, 1.0]), sizes=(4, 16))
    assert calls == [(4, [1]), (16, [0]), (64, [0, 1])]
