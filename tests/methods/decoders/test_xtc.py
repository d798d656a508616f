"""XTC: hand-derived rows, the guarded port bugs (threshold 0, the boundary token, ties), the coin
(per row, batch-independent, reproducible, from seeds or from the row), vocabulary permutations,
``model.generate`` through the adapter, the generation loop, and parity with llama.cpp's
``llama_sampler_xtc`` re-implemented here in NumPy float64 (transformers has no XTC warper)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import LogitsProcessorList

from entropy_bench.generation import generate
from entropy_bench.methods.decoders.base import Chain, LogitsProcessorAdapter
from entropy_bench.methods.decoders.temperature import Temperature
from entropy_bench.methods.decoders.xtc import XTC, coin, seed_key
from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.models.hf import load_model

from strategies import logit_rows

NEG_INF = float("-inf")
PROBS = [0.5, 0.3, 0.15, 0.05]
ROWS = {7: 1000, 1000: 1000, 49152: 64}


def kept(decoder, logits):
    return decoder(logits)[0].isfinite().tolist()


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.1, [False, False, True, True]),  # 0.5, 0.3, 0.15 reach 0.1: 0.15, the least of them, stays
        (0.2, [False, True, True, True]),  # 0.5, 0.3 reach it: 0.3 stays
        (0.04, [False, False, False, True]),  # all four reach it: only 0.05 stays
        (0.4, [True] * 4),  # only 0.5 reaches it: nothing to exclude
        (0.5, [True] * 4),
    ],
)
def test_removes_the_tokens_reaching_the_threshold_but_the_least_probable(threshold, expected):
    assert kept(XTC(xtc_probability=1.0, xtc_threshold=threshold), torch.tensor([PROBS]).log()) == [expected]


def test_a_token_exactly_at_the_threshold_reaches_it_and_is_the_one_kept():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    at = logits.softmax(-1)[0, 2].item()  # the float32 probability itself: p_2 ≥ t holds with equality
    assert kept(XTC(xtc_probability=1.0, xtc_threshold=at), logits) == [[False, False, True, True]]


def test_threshold_zero_and_above_one_half_are_no_ops():
    # The port bug: at t = 0 every token reaches t, and the rule as written (llama.cpp, the webui,
    # mlx-lm before its fix) keeps only the least probable token of the vocabulary, possibly a −inf one.
    logits = torch.tensor([[3.0, 2.0, 1.0, NEG_INF, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    for threshold in (0.0, 0.51, 1.0):
        out, _ = XTC(xtc_probability=1.0, xtc_threshold=threshold)(logits)
        assert torch.equal(out, logits), threshold


def test_masked_tokens_never_count_and_never_come_back():
    # A tiny threshold: every finite token reaches it, the −inf ones (p = 0) do not; the least
    # probable finite token stays, not a masked one.
    logits = torch.tensor([[3.0, NEG_INF, 2.0, 1.0, NEG_INF]])
    assert kept(XTC(xtc_probability=1.0, xtc_threshold=1e-9), logits) == [[False, False, False, True, False]]


def test_tokens_tied_for_least_probable_are_all_kept():
    # p ∝ (e², 1, 1, e^-3): the two tied tokens both reach 0.05 and are both the least probable of A.
    logits = torch.tensor([[2.0, 0.0, 0.0, -3.0]])
    assert kept(XTC(xtc_probability=1.0, xtc_threshold=0.05), logits) == [[False, True, True, True]]


def test_a_threshold_set_of_tied_tokens_is_left_alone():
    # A = the two tied tokens: no least probable one to single out without choosing by token id
    # (llama.cpp and the webui drop one of them by sort order).
    logits = torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])
    assert kept(XTC(xtc_probability=1.0, xtc_threshold=0.3), logits) == [[True, True, True]] * 2


def test_probability_zero_never_and_one_always_excludes():
    logits = torch.tensor([PROBS] * 64).log()
    assert all(all(row) for row in kept(XTC(xtc_probability=0.0, xtc_threshold=0.1), logits))
    assert kept(XTC(xtc_probability=1.0, xtc_threshold=0.1), logits) == [[False, False, True, True]] * 64


@pytest.mark.parametrize(("field", "params"), [
    ("xtc_probability", {"xtc_probability": -0.1}),
    ("xtc_probability", {"xtc_probability": 1.5}),
    ("xtc_threshold", {"xtc_threshold": -0.1}),
    ("xtc_threshold", {"xtc_threshold": 1.5}),
])
def test_rejects_parameters_outside_0_1(field, params):
    with pytest.raises(InvalidParameterError) as err:
        XTC(**params)
    assert err.value.field == field


# The coin.


def excluded(decoder, state, steps, batch=None):
    """Per step, which rows had their top token removed (rows of PROBS: only XTC's coin decides)."""
    logits = torch.tensor([PROBS] * (batch or len(state.keys))).log()
    hits = []
    for _ in range(steps):
        out, state = decoder(logits, state)
        hits.append((~out[:, 0].isfinite()).tolist())
    return hits, state


def seeded(decoder, seeds):
    """The state the generation loop gives: ``start`` with every row's seed (prompts empty here)."""
    seeds = list(seeds)
    return decoder.start(decoder.init_state(len(seeds), torch.device("cpu")), [[] for _ in seeds], None, seeds)


def test_seeded_coins_are_the_rows_own_bernoulli_draws():
    decoder = XTC(xtc_probability=0.3, xtc_threshold=0.1)
    seeds = list(range(100, 140))
    hits, state = excluded(decoder, seeded(decoder, seeds), steps=50)
    assert hits == [[coin(seed_key(s), step) < 0.3 for s in seeds] for step in range(50)]
    assert state.step == 50 and state.seeded
    rate = np.mean(hits)  # 2000 draws: within 4 standard errors of 0.3
    assert abs(rate - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 2000)


def test_seeded_rows_do_not_depend_on_their_batch_or_on_the_logits():
    decoder = XTC(xtc_probability=0.5, xtc_threshold=0.1)
    cpu = torch.device("cpu")
    together, _ = excluded(decoder, seeded(decoder, [7, 8, 9]), steps=30)
    alone, _ = excluded(decoder, seeded(decoder, [8]), steps=30)
    assert [step[1] for step in together] == [step[0] for step in alone]
    # observe leaves seeded keys alone: the coins do not follow the drawn tokens.
    state = seeded(decoder, [1, 2])
    assert decoder.observe(state, torch.zeros(2, 4), torch.tensor([3, 0])) == state
    # Distinct seeds, distinct coin sequences; a row's coins come from its own key alone.
    seqs = [tuple(coin(seed_key(s), t) < 0.5 for t in range(64)) for s in range(20)]
    assert len(set(seqs)) == 20


def test_a_state_is_a_value_calling_twice_gives_the_same_step():
    decoder = XTC(xtc_probability=0.5, xtc_threshold=0.1)
    logits = torch.tensor([PROBS] * 16).log()
    for state in (seeded(decoder, range(16)), None):
        first, second = decoder(logits, state), decoder(logits, state)
        assert torch.equal(first[0], second[0]) and first[1] == second[1]


def test_without_seeds_the_coins_follow_the_row_prompt_and_its_drawn_tokens():
    decoder = XTC(xtc_probability=0.5, xtc_threshold=0.1)
    cpu = torch.device("cpu")
    state = decoder.start(decoder.init_state(3, cpu), [[1, 2], [3], [1, 2]])
    alone = decoder.start(decoder.init_state(1, cpu), [[3]])
    assert state.keys[1] == alone.keys[0] and not state.seeded  # the key is the row's own
    assert state.keys[0] == state.keys[2] != state.keys[1]  # same prompt, same key
    rows = torch.zeros(3, 5)
    observed = decoder.observe(state, rows, torch.tensor([0, 1, 2]))
    assert all(a != b for a, b in zip(observed.keys, state.keys))
    assert decoder.observe(state, rows, torch.tensor([0, 1, 2])) == observed  # reproducible
    assert decoder.observe(state, rows, torch.tensor([1, 1, 2])).keys[0] != observed.keys[0]


@settings(max_examples=80, deadline=None)
@given(logits=logit_rows(), threshold=st.sampled_from([1e-9, 0.02, 0.1, 0.3]), seed=st.integers(0, 2**31 - 1))
def test_permuting_the_vocabulary_permutes_the_output(logits, threshold, seed):
    # No key (seeded, or seed 0 without start) depends on logits, and given the coin the
    # rule is permutation-equivariant: ties are never broken by index.
    perm = torch.randperm(logits.shape[-1], generator=torch.Generator().manual_seed(seed))
    decoder = XTC(xtc_probability=0.7, xtc_threshold=threshold)
    seeds = [seed + b for b in range(logits.shape[0])]
    for state in (seeded(decoder, seeds), None):
        assert torch.equal(decoder(logits[:, perm], state)[0], decoder(logits, state)[0][:, perm])


@settings(max_examples=80, deadline=None)
@given(logits=logit_rows(), threshold=st.sampled_from([1e-9, 0.02, 0.1, 0.3]))
def test_the_least_probable_token_reaching_the_threshold_always_stays(logits, threshold):
    out, _ = XTC(xtc_probability=1.0, xtc_threshold=threshold)(logits)
    above = logits.softmax(-1) >= threshold
    least = torch.where(above, logits, float("inf")).amin(-1, keepdim=True)
    assert (out.isfinite() | ~(above & (logits == least))).all()  # the boundary token(s)
    assert torch.equal(out.isfinite() | above, logits.isfinite())  # tokens below t untouched


# Through model.generate (LogitsProcessorAdapter) and the generation loop.


def test_generate_through_the_adapter_applies_the_rule_to_each_steps_logits(tiny_lm):
    # Probability 1: no coin. The processed scores at each step are the rule applied to the raw logits.
    decoder = Chain((Temperature(temperature=0.05), XTC(xtc_probability=1.0, xtc_threshold=0.05)))
    torch.manual_seed(0)
    input_ids = torch.randint(1, 100, (3, 4))
    out = tiny_lm.generate(
        input_ids, do_sample=True, top_k=0, logits_processor=LogitsProcessorList([LogitsProcessorAdapter(decoder)]),
        max_new_tokens=6, return_dict_in_generate=True, output_scores=True, output_logits=True,
    )
    removed = 0
    for raw, processed in zip(out.logits, out.scores, strict=True):
        expected, _ = decoder(raw)
        assert torch.equal(processed.isfinite(), expected.isfinite())
        removed += int((~expected.isfinite()).sum())
    assert removed > 0  # the low temperature puts several tokens above 0.05: XTC acted


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_generation_rows_do_not_depend_on_batch_composition(lm):
    # The loop hands every row its seed (Decoder.start): the coins are the row's own.
    decoder = Chain((Temperature(temperature=0.02), XTC(xtc_probability=0.5, xtc_threshold=0.02)))
    prompts, seeds = ["1 + 2 =", "Question: Tom has 3 apples. He gets", "Lena"], [10, 11, 12]
    together = generate(lm, prompts, decoder, seeds=seeds, max_new_tokens=12)
    alone = [generate(lm, [p], decoder, seeds=[s], max_new_tokens=12)[0] for p, s in zip(prompts, seeds)]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    again = generate(lm, prompts, decoder, seeds=seeds, max_new_tokens=12)
    assert [g.token_ids for g in again] == [g.token_ids for g in together]
    # Same seeds, same Gumbel noise: only XTC's removals make the tokens differ from temperature alone.
    plain = generate(lm, prompts, decoder.decoders[0], seeds=seeds, max_new_tokens=12)
    assert [g.token_ids for g in plain] != [g.token_ids for g in together]


# Parity with llama.cpp.


def llama_cpp_xtc(logits: np.ndarray, threshold: float) -> np.ndarray:
    """llama.cpp's llama_sample_xtc_apply with the coin up (probability 1), min_keep = 1, in float64:
    candidates sorted by logit, softmax, pos_last = the last position with p ≥ t from the top, and
    the candidates above it removed if pos_last > 0. Rows here have no ties and no −inf."""
    out = logits.copy()
    for row in out:
        order = np.argsort(-row, kind="stable")
        p = np.exp(row[order] - row[order[0]])
        p /= p.sum()
        pos_last = 0
        for i in range(len(p)):
            if p[i] >= threshold:
                pos_last = i
            else:
                break
        if pos_last > 0:
            row[order[:pos_last]] = -math.inf
    return out


@pytest.fixture(scope="module")
def parity_rows() -> dict[int, torch.Tensor]:
    out = {}
    for vocab, count in ROWS.items():
        generator = torch.Generator().manual_seed(vocab)
        scale = torch.tensor([1.0, 3.0, 10.0, 30.0], dtype=torch.float64)[torch.randint(0, 4, (count, 1), generator=generator)]
        out[vocab] = torch.randn(count, vocab, generator=generator, dtype=torch.float64) * scale
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("vocab", list(ROWS))
@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.2, 0.3])
def test_same_kept_sets_as_llama_cpp(parity_rows, threshold, vocab, dtype):
    logits = parity_rows[vocab].to(dtype)
    ours = torch.cat([XTC(xtc_probability=1.0, xtc_threshold=threshold)(chunk)[0] for chunk in logits.split(32)])
    theirs = torch.from_numpy(llama_cpp_xtc(logits.double().numpy(), threshold))
    differ = ours.isfinite() != theirs.isfinite()
    if dtype == torch.float32:  # p in float32 here: a flip needs a probability within rounding of t
        p = logits.double().softmax(-1)
        assert ((p[differ] - threshold).abs() <= 1e-6).all()
        assert differ.any(-1).sum() <= 2
    else:
        assert not differ.any(), f"{differ.any(-1).sum()} rows differ"
    acted = (ours.isfinite().sum(-1) < vocab).sum().item()
    assert acted >= (3 if vocab == 49152 else 50)  # the rows exercise the rule
