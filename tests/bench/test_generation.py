"""The generation loop against independent references: transformers' own greedy ``generate``
and a full forward pass recomputing every recorded log-prob and entropy — also for a batch whose
prompts share a few-shot context (run once) and whose rows finish at different steps (dropped
from the model's batch)."""

import pytest
import torch

from entropy_bench.generation import common_prefix, generate, split_prefix
from entropy_bench.methods.registry import DECODERS
from entropy_bench.models.hf import load_model

PROMPTS = ["1 + 2 =", "Question: Tom has 3 apples. He gets", "Lena"]


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_greedy_matches_transformers_generate(lm):
    ours = generate(lm, PROMPTS, DECODERS.build("greedy"), seeds=[0, 1, 2], max_new_tokens=12)
    batch = lm.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    ref = lm.model.generate(**batch, do_sample=False, max_new_tokens=12, pad_token_id=lm.tokenizer.pad_token_id)
    for row, gen in enumerate(ours):
        expected = ref[row, batch["input_ids"].shape[1]:].tolist()
        assert gen.token_ids == expected[: len(gen.token_ids)]


def _reference_stats(lm, prompt: str, tokens: list[int], temperature: float = 1.0):
    """log p(x_t) and H_t from one unpadded forward pass over prompt + tokens (batch of one)."""
    ids = lm.tokenizer(prompt, return_tensors="pt")["input_ids"]
    full = torch.cat([ids, torch.tensor([tokens])], dim=1)
    with torch.no_grad():
        logits = lm.model(full).logits[0, ids.shape[1] - 1 : -1].double()
    logp = logits.log_softmax(-1)
    chosen = logp.gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    warped = (logits / temperature).log_softmax(-1)
    wchosen = warped.gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)
    return chosen, entropy, wchosen, -(warped.exp() * warped).sum(-1), logp.topk(5, dim=-1).values


@pytest.mark.parametrize("decoder", ["greedy", {"name": "temperature", "temperature": 0.5}])
def test_recorded_stats_equal_a_full_forward_pass(lm, decoder):
    from entropy_bench.methods.decoders.base import build_decoder

    dec = build_decoder(decoder)
    gens = generate(lm, PROMPTS, dec, seeds=[3, 4, 5], max_new_tokens=10)
    for prompt, gen in zip(PROMPTS, gens):
        logp, entropy, wlogp, wentropy, top5 = _reference_stats(lm, prompt, gen.token_ids, getattr(dec, "temperature", 1.0))
        torch.testing.assert_close(torch.tensor(gen.logprob).double(), logp, atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.tensor(gen.entropy).double(), entropy, atol=1e-4, rtol=0)
        if dec.name == "greedy":
            assert gen.warped_entropy == pytest.approx([0.0] * len(gen.token_ids), abs=1e-6)
            assert gen.warped_logprob == pytest.approx([0.0] * len(gen.token_ids), abs=1e-6)
        else:
            torch.testing.assert_close(torch.tensor(gen.warped_logprob).double(), wlogp, atol=1e-4, rtol=0)
            torch.testing.assert_close(torch.tensor(gen.warped_entropy).double(), wentropy, atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.tensor(gen.top_logprobs).double(), top5, atol=1e-4, rtol=0)


@pytest.mark.parametrize("decoder", ["greedy", {"name": "temperature", "temperature": 1.0}])
def test_rows_do_not_depend_on_batch_composition(lm, decoder):
    from entropy_bench.methods.decoders.base import build_decoder

    dec = build_decoder(decoder)
    together = generate(lm, PROMPTS, dec, seeds=[10, 11, 12], max_new_tokens=10)
    alone = [generate(lm, [p], dec, seeds=[s], max_new_tokens=10)[0] for p, s in zip(PROMPTS, [10, 11, 12])]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]


def test_sampling_depends_on_the_row_seed(lm):
    dec = DECODERS.build("temperature", temperature=2.0)
    a = generate(lm, [PROMPTS[0]] * 4, dec, seeds=[1, 2, 3, 4], max_new_tokens=8)
    assert len({tuple(g.token_ids) for g in a}) > 1


def test_stop_string_cuts_text_and_tokens(lm):
    free = generate(lm, [PROMPTS[1]], DECODERS.build("greedy"), seeds=[0], max_new_tokens=12)[0]
    assert len(free.text) > 4
    stop = free.text[3:5]
    cut = generate(lm, [PROMPTS[1]], DECODERS.build("greedy"), seeds=[0], max_new_tokens=12, stop=[stop])[0]
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.find(stop)]
    assert cut.token_ids == free.token_ids[: len(cut.token_ids)]
    decoded = lm.tokenizer.decode(cut.token_ids)
    assert decoded.startswith(cut.text) and len(lm.tokenizer.decode(cut.token_ids[:-1])) < len(cut.text) + len(stop)
    assert len(cut.logprob) == len(cut.entropy) == len(cut.token_ids)


FEWSHOT = "1 + 2 = 3\n\n4 - 1 = 3\n\n5 + 4 = 9\n\n"
SHARED = [FEWSHOT + q for q in ("9 - 8 =", "Tom has", "Lena has 12 marbles and")]


def test_common_prefix_leaves_each_row_a_token_of_its_own_and_split_prefix_keeps_positions():
    ids = torch.tensor([[0, 0, 5, 6, 7, 8, 1], [5, 6, 7, 8, 2, 3, 4], [0, 5, 6, 7, 8, 9, 9]])
    attention = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7, [0, 1, 1, 1, 1, 1, 1]])
    assert common_prefix(ids, attention) == 4  # the shortest row keeps its last token
    assert common_prefix(ids[:1], attention[:1]) == 0 and common_prefix(ids[:, 2:], attention[:, 2:]) == 0
    new_ids, new_mask = split_prefix(ids, attention, 4)
    for row in range(3):
        old_real, new_real = ids[row][attention[row].bool()], new_ids[row][new_mask[row].bool()]
        assert torch.equal(old_real, new_real) and torch.equal(new_ids[row, :4], torch.tensor([5, 6, 7, 8]))
        positions = (new_mask[row].cumsum(-1) - 1)[new_mask[row].bool()]
        assert torch.equal(positions, torch.arange(len(old_real)))


@pytest.mark.parametrize(("decoder", "stop"), [("greedy", ("X", "R")),
                                               ({"name": "temperature", "temperature": 0.7}, ("e", "2"))])
def test_a_shared_context_and_rows_leaving_the_batch_change_no_token_or_statistic(lm, decoder, stop):
    """With these stop strings the tiny model's second row stops at its first token, the third
    later and the first never: the shared context runs once, the model's batch shrinks to the
    live rows, and every row equals its own generation alone and a full forward pass over it."""
    from entropy_bench.methods.decoders.base import build_decoder

    dec, seeds = build_decoder(decoder), [1, 2, 3]
    shapes, forward = [], lm.model.forward

    def recorded(*args, **kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        return forward(*args, **kwargs)

    lm.model.forward = recorded
    try:
        gens = generate(lm, SHARED, dec, seeds=seeds, max_new_tokens=12, stop=stop)
    finally:
        del lm.model.forward
    prefix = common_prefix(*(lambda b: (b["input_ids"], b["attention_mask"]))(
        lm.tokenizer(SHARED, return_tensors="pt", padding=True, add_special_tokens=False)))
    assert prefix >= 8 and shapes[0] == (1, prefix) and shapes[1][0] == 3  # the context, then each row's own
    assert [g.finish_reason for g in gens] == ["length", "stop", "stop"] and len(gens[1].token_ids) == 1
    assert shapes[2][0] == 2 and shapes[-1][0] == 1  # the finished rows left the batch
    alone = [generate(lm, [p], dec, seeds=[s], max_new_tokens=12, stop=stop)[0] for p, s in zip(SHARED, seeds)]
    assert [g.token_ids for g in gens] == [g.token_ids for g in alone]
    for prompt, gen in zip(SHARED, gens):
        logp, entropy, *_ = _reference_stats(lm, prompt, gen.token_ids)
        torch.testing.assert_close(torch.tensor(gen.logprob).double(), logp, atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.tensor(gen.entropy).double(), entropy, atol=1e-4, rtol=0)


def test_length_groups_pack_rows_longest_first_within_the_budget():
    from entropy_bench.generation import length_groups

    assert length_groups([3, 9, 4, 8, 1], budget=16) == [[1], [3, 2], [0, 4]]  # 2 × 9 > 16, 2 × 8 ≤ 16 < 3 × 8
    assert length_groups([5, 5, 5], budget=4) == [[0], [1], [2]]  # longer than the budget: alone
    assert length_groups([2, 2, 2], budget=6) == [[0, 1, 2]] and length_groups([], budget=6) == []


@pytest.mark.parametrize("prompts", [[*PROMPTS, "Question: Tom has 3 apples. He gets 2 more and"], SHARED])
@pytest.mark.parametrize("n", [1, 3])
def test_a_prefill_in_length_groups_changes_no_token_and_matches_the_single_call(lm, monkeypatch, prompts, n):
    """The prompts' prefill split into groups (a budget of one token: every prompt alone) against
    the whole batch in one padded call: the same tokens, and statistics equal to round-off; the
    model saw each group padded only to its own longest prompt (and a shared context once)."""
    import entropy_bench.generation as generation

    dec, seeds = DECODERS.build("temperature", temperature=1.0), list(range(len(prompts) * n))
    shapes, forward = [], lm.model.forward

    def recorded(*args, **kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        return forward(*args, **kwargs)

    whole = generate(lm, prompts, dec, seeds=seeds, max_new_tokens=6, n_per_prompt=n)
    monkeypatch.setattr(generation, "CPU_PREFILL_TOKENS", 1)
    lm.model.forward = recorded
    try:
        grouped = generate(lm, prompts, dec, seeds=seeds, max_new_tokens=6, n_per_prompt=n)
    finally:
        del lm.model.forward
    assert [g.token_ids for g in grouped] == [g.token_ids for g in whole]
    for a, b in zip(grouped, whole):
        torch.testing.assert_close(torch.tensor(a.logprob), torch.tensor(b.logprob), atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.tensor(a.entropy), torch.tensor(b.entropy), atol=1e-5, rtol=0)
    batch = lm.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    shared = common_prefix(batch["input_ids"], batch["attention_mask"])
    shared = shared if shared >= generation.SHARED_PREFIX_MIN else 0
    own = sorted((int(m) - shared for m in batch["attention_mask"].sum(-1)), reverse=True)
    prefill = shapes[: len(prompts) + bool(shared)]
    assert prefill == [(1, shared)] * bool(shared) + [(1, m) for m in own]
    assert shapes[len(prefill)][0] == len(prompts) * n  # then the decode steps, on the whole batch


def test_batches_go_longest_prompt_first_and_no_output_depends_on_prompt_order_or_batch_mates(lm):
    """The generation track's batching (``in_batches``): permuting the prompts permutes the
    batches' composition, and every prompt's continuations stay the same tokens."""
    from entropy_bench.tracks.generation_data import batch_order, in_batches

    assert batch_order(["ab", "abcd", "a", "abc"], 3) == [[1, 3, 0], [2]]
    prompts = [*PROMPTS, *SHARED]
    dec = DECODERS.build("temperature", temperature=1.0)

    def by_prompt(order, per_batch):
        ps = [prompts[i] for i in order]
        out = {}
        for idx, gens, _ in in_batches(lm, ps, [[len(q), 7] for q in ps], dec, per_batch=per_batch,
                                       max_new_tokens=8, stop=["e"]):
            out.update({ps[i]: [g.token_ids for g in row] for i, row in zip(idx, gens)})
        return out

    reference = by_prompt(range(len(prompts)), 1)
    assert by_prompt([4, 0, 5, 2, 1, 3], 2) == reference == by_prompt([5, 4, 3, 2, 1, 0], 3)


@pytest.mark.parametrize("stop", [("e",), ("Question:", "é"), ("\n\n", "ab")])
def test_stop_scan_finds_a_stop_at_the_same_token_as_decoding_the_whole_continuation(lm, stop):
    from entropy_bench.generation import StopScan

    tok = lm.tokenizer
    ids = tok("Question: é ab\n\nQuestion: café e x é", add_special_tokens=False)["input_ids"]
    rng = torch.Generator().manual_seed(0)
    streams = [ids, ids[::-1], torch.randint(0, len(tok), (40,), generator=rng).tolist()]
    scan = StopScan(tok, stop, len(streams))
    first = [None] * len(streams)
    for t in range(max(map(len, streams))):
        live = [i for i, s in enumerate(streams) if first[i] is None and t < len(s)]
        for i in scan.scan([s[t] if t < len(s) else 0 for s in streams], live):
            first[i] = t
    for i, s in enumerate(streams):
        whole = next((t for t in range(len(s)) if any(x in tok.decode(s[: t + 1], skip_special_tokens=True) for x in stop)),
                     None)
        assert first[i] == whole
