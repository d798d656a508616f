"""DRY: match lengths and penalties derived by hand, the row's own context only, breakers from
the tokenizer, and the same tokens through our generation loop and through transformers."""

import math

import pytest
import torch
from transformers import LogitsProcessorList

from entropy_bench.generation import generate
from entropy_bench.methods.decoders.base import Chain, LogitsProcessorAdapter
from entropy_bench.methods.decoders.dry import DRY, DRYState, match_lengths
from entropy_bench.methods.registry import DECODERS, InvalidParameterError


@pytest.mark.parametrize(
    ("history", "breakers", "expected"),
    [
        ([1, 2, 3, 9, 1, 2, 3], set(), {9: 3}),  # "1 2 3" repeats: 9 would make it "1 2 3 9" again
        ([1, 2, 3, 9, 1, 2, 3], {9}, {}),  # a breaker is never penalised
        ([5, 1, 2, 7, 5, 1, 2], {5}, {7: 2}),  # the match stops before the breaker 5
        ([3, 1, 3, 2, 4, 3], set(), {1: 1, 2: 1}),  # two earlier occurrences of 3, one token each
        ([8, 3, 1, 8, 3, 2, 8, 3], set(), {1: 2, 2: 2}),
        ([4, 4, 4, 4], set(), {4: 3}),  # a run: the longest earlier match is "4 4 4" → 4
        ([1, 2, 3, 2], {2}, {}),  # the last token is a breaker: nothing
        ([7], set(), {}),
    ],
)
def test_match_lengths_by_hand(history, breakers, expected):
    assert match_lengths(history, frozenset(breakers)) == expected


def test_penalty_is_multiplier_times_base_to_the_excess_length():
    dry = DRY(multiplier=0.5, base=2.0, allowed_length=2)
    logits = torch.zeros(2, 12)
    state = DRYState([[1, 2, 3, 9, 1, 2, 3], [3, 1, 3, 2, 4, 3]], frozenset())
    out, _ = dry(logits, state)
    expected = torch.zeros(2, 12)
    expected[0, 9] = -0.5 * 2.0 ** (3 - 2)  # n = 3; row 1's matches (n = 1) are under the allowed length
    assert torch.equal(out, expected)
    assert torch.equal(logits, torch.zeros(2, 12))  # input not mutated


def test_each_row_reads_only_its_own_context():
    dry = DRY()
    rows = [[1, 2, 3, 9, 1, 2, 3], [4, 5, 6]]
    together, _ = dry(torch.zeros(2, 10), DRYState(rows, frozenset()))
    alone = [dry(torch.zeros(1, 10), DRYState([r], frozenset()))[0] for r in rows]
    assert torch.equal(together, torch.cat(alone))


def test_observe_appends_drawn_tokens_and_start_takes_breakers_from_the_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    dry = DRY(sequence_breakers=["\n", ":"])
    state = dry.start(dry.init_state(2, torch.device("cpu")), [[1, 2], [3]], tok)
    assert state.breakers == {tok.encode("a\n")[-1], tok.encode("a:")[-1]}
    state = dry.observe(state, torch.zeros(2, 5), torch.tensor([7, 8]))
    assert state.history == [[1, 2, 7], [3, 8]]
    assert dry.sequence_breakers == ("\n", ":")  # a list from YAML becomes a tuple (hashable id)


@pytest.mark.parametrize(("field", "value"), [("base", 0.5), ("multiplier", -1.0), ("allowed_length", -1),
                                              ("penalty_range", 1.5), ("sequence_breakers", [""])])
def test_invalid_parameters_name_the_field(field, value):
    with pytest.raises(InvalidParameterError, match=field):
        DECODERS.build("dry", **{field: value})


def test_penalty_range_limits_the_context():
    logits = torch.zeros(1, 12)
    state = DRYState([[1, 2, 3, 9, 5, 5, 5, 1, 2, 3]], frozenset())
    full, _ = DRY(penalty_range=0)(logits, state)
    short, _ = DRY(penalty_range=5)(logits, state)
    assert full[0, 9] < 0 and short[0, 9] == 0


def test_generation_loop_and_transformers_generate_agree(tiny_model_dir):
    """Greedy decoding with DRY: our loop (Chain(dry, greedy)) and transformers' generate with the
    adapter pick the same tokens, and DRY changes them where the model repeats itself."""
    from entropy_bench.models.hf import load_model

    lm = load_model(str(tiny_model_dir))
    prompt = "1 + 2 = 3\n\n1 + 2 = 3\n\n1 + 2 ="
    dry = DRY(multiplier=2.0, allowed_length=1)
    ours = generate(lm, [prompt], Chain((dry, DECODERS.build("greedy"))), seeds=[0], max_new_tokens=12)[0]
    plain = generate(lm, [prompt], DECODERS.build("greedy"), seeds=[0], max_new_tokens=12)[0]
    ids = lm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    out = lm.model.generate(ids, do_sample=False, max_new_tokens=12, pad_token_id=lm.tokenizer.eos_token_id,
                            logits_processor=LogitsProcessorList([LogitsProcessorAdapter(dry, lm.tokenizer)]))
    theirs = out[0, ids.shape[1]:].tolist()
    assert ours.token_ids == theirs[: len(ours.token_ids)]
    assert ours.token_ids != plain.token_ids
    assert not math.isnan(sum(ours.logprob))
