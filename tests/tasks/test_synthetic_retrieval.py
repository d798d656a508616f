"""Synthetic long-context retrieval: determinism, the needle's depth, the prompt's exact length in
the tiny model's tokens, the papers' prompt layouts, scoring and parameter checks.

References are written out here, independently of the module: the prompt texts of Landmark
Attention's ``run_test.py`` and Lost in the Middle's ``test_prompting.py``, UUID and needle
shapes as regular expressions, and depths read back from the prompt text.
"""

from __future__ import annotations

import json
import re

import pytest

from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.synthetic_retrieval import SyntheticRetrieval, kv_prompt

INSTRUCTION = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
FILLER_BLOCK = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
LONGEST_SENTENCE = len("There and back again. ")
QUESTION = "What is the pass key? The pass key is"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
DEPTHS = (0.0, 0.5, 1.0)
LENGTHS = (400, 517, 1000)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fitted(task: SyntheticRetrieval, example: dict, tokenizer) -> str:
    return task.fit(example, task.prompt(example), tokenizer, max_tokens=100_000)


def passkey_parts(prompt: str) -> tuple[str, str, str]:
    """(filler before, needle line, filler after) of a passkey prompt, checking the frame lines."""
    lines = prompt.split("\n")
    assert len(lines) == 5 and lines[0] == INSTRUCTION and lines[4] == QUESTION
    return lines[1], lines[2], lines[3]


def kv_pairs(prompt: str) -> list[tuple[str, str]]:
    """The JSON object of a kv prompt, parsed, as (key, value) pairs in order."""
    data = re.search(r"\nJSON data:\n(\{.*\})\n\nKey: ", prompt, flags=re.DOTALL).group(1)
    return list(json.loads(data, object_pairs_hook=lambda pairs: pairs))


def test_registry_defaults_and_id():
    entry = TASKS.get("synthetic_retrieval")
    assert entry.factory is SyntheticRetrieval
    assert entry.params == {"kind": "passkey", "context_tokens": 1024, "depth": 0.5, "n_examples": 100, "seed": 0}
    assert entry.url == "https://arxiv.org/abs/2305.16300" and "2307.03172" in entry.paper
    task = TASKS.build("synthetic_retrieval", kind="kv", depth=1)
    assert task.id == "synthetic_retrieval(context_tokens=1024,depth=1.0,kind=kv,n_examples=100,seed=0)"
    assert task.version == "1" and task.primary_metric == "exact_match"


@pytest.mark.parametrize("kind", ["passkey", "kv"])
def test_same_params_same_examples_other_seed_different(kind):
    task = SyntheticRetrieval(kind=kind, seed=3)
    examples = task.load("test")
    assert examples == SyntheticRetrieval(kind=kind, seed=3).load("test")
    others = SyntheticRetrieval(kind=kind, seed=4).load("test")
    assert sum(a["target"] != b["target"] for a, b in zip(examples, others, strict=True)) > 0.9 * len(examples)
    assert len(examples) == 100 and len({e["id"] for e in examples}) == 100
    assert task.load("test", limit=7) == examples[:7]
    assert SyntheticRetrieval(kind=kind, seed=3, n_examples=150).load("test")[:100] == examples
    assert [e["target"] for e in task.load("train", 20)] != [e["target"] for e in examples[:20]]
    # the examples are independent of the prompt's length and depth
    assert SyntheticRetrieval(kind=kind, seed=3, context_tokens=4096, depth=0.1).load("test") == examples


def test_example_fields():
    keys = [e["target"] for e in SyntheticRetrieval(kind="passkey").load("test")]
    assert all(re.fullmatch(r"[1-9]\d{4}", k) for k in keys) and len(set(keys)) > 90
    for e in SyntheticRetrieval(kind="kv").load("test"):
        assert UUID.fullmatch(e["key"]) and UUID.fullmatch(e["target"]) and e["key"] != e["target"]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("context_tokens", LENGTHS)
def test_passkey_prompt_has_exactly_context_tokens_and_the_needle_at_depth(tokenizer, context_tokens, depth):
    task = SyntheticRetrieval(kind="passkey", context_tokens=context_tokens, depth=depth, n_examples=10)
    for example in task.load("test"):
        prompt = fitted(task, example, tokenizer)
        assert n_tokens(tokenizer, prompt) == context_tokens
        before, needle, after = passkey_parts(prompt)
        key = example["target"]
        assert needle == f"The pass key is {key}. Remember it. {key} is the pass key."
        filler = f"{before} {after}".strip(" ")
        assert " ".join([FILLER_BLOCK] * 100).startswith(filler)  # the filler, with nothing lost at the needle
        assert abs(len(before) - depth * len(filler)) <= LONGEST_SENTENCE  # the nearest sentence boundary
        decoded = tokenizer.decode(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        assert f"\nThe pass key is {key}. Remember it. {key} is the pass key.\n" in decoded


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("context_tokens", LENGTHS)
def test_kv_prompt_has_the_most_whole_pairs_that_fit_and_the_needle_at_depth(tokenizer, context_tokens, depth):
    task = SyntheticRetrieval(kind="kv", context_tokens=context_tokens, depth=depth, n_examples=5)
    for example in task.load("test"):
        prompt = fitted(task, example, tokenizer)
        pairs = kv_pairs(prompt)
        length = n_tokens(tokenizer, prompt)
        pair_tokens = max(n_tokens(tokenizer, f' "{k}": "{v}",\n') for k, v in pairs)
        assert context_tokens - pair_tokens < length <= context_tokens  # one more pair would not fit
        index = [k for k, _ in pairs].index(example["key"])
        assert pairs[index] == (example["key"], example["target"])
        assert abs(index - depth * (len(pairs) - 1)) <= 0.5
        assert all(UUID.fullmatch(k) and UUID.fullmatch(v) for k, v in pairs)
        assert len({k for k, _ in pairs}) == len(pairs) >= 2
        assert prompt.endswith(f'\n\nKey: "{example["key"]}"\nCorresponding value:')
        decoded = tokenizer.decode(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        assert f'"{example["key"]}": "{example["target"]}"' in decoded


def test_a_longer_kv_prompt_extends_the_haystack(tokenizer):
    short, long = (SyntheticRetrieval(kind="kv", context_tokens=n, depth=0.0, n_examples=1) for n in (400, 900))
    example = short.load("test")[0]
    shorter = kv_pairs(fitted(short, example, tokenizer))
    assert kv_pairs(fitted(long, example, tokenizer))[: len(shorter)] == shorter


def test_kv_layout_is_lost_in_the_middle():
    gold = (
        "Extract the value corresponding to the specified key in the JSON object below.\n"
        "\n"
        "JSON data:\n"
        '{"test key1": "test value1",\n'
        ' "test key2": "test value2",\n'
        ' "test key3": "test value3"}\n'
        "\n"
        'Key: "test key2"\n'
        "Corresponding value:"
    )
    pairs = [("test key1", "test value1"), ("test key3", "test value3")]
    assert kv_prompt("test key2", "test value2", pairs, depth=0.5) == gold


def test_nominal_prompt_and_fitted_prompt_depend_on_the_tokenizer(tokenizer):
    task = SyntheticRetrieval(kind="passkey", context_tokens=400, n_examples=1)
    example = task.load("test")[0]
    nominal, exact = task.prompt(example), fitted(task, example, tokenizer)
    assert passkey_parts(nominal)[1] == passkey_parts(exact)[1]
    assert nominal != exact and n_tokens(tokenizer, exact) == 400
    assert task.prompt(example) == nominal  # deterministic


def test_fit_refuses_a_prompt_longer_than_the_window_leaves(tokenizer):
    task = SyntheticRetrieval(context_tokens=2048)
    example = task.load("test", 1)[0]
    with pytest.raises(ValueError, match=r"context_tokens=2048.*leaves 2038 tokens"):
        task.fit(example, task.prompt(example), tokenizer, max_tokens=2038)
    assert n_tokens(tokenizer, task.fit(example, task.prompt(example), tokenizer, max_tokens=2048)) == 2048


@pytest.mark.parametrize("kind", ["passkey", "kv"])
def test_fit_refuses_too_few_tokens_for_a_haystack(tokenizer, kind):
    task = SyntheticRetrieval(kind=kind, context_tokens=64)
    example = task.load("test", 1)[0]
    with pytest.raises(ValueError, match=r"context_tokens=64 leaves no room for a haystack: .* has \d+ tokens"):
        task.fit(example, task.prompt(example), tokenizer, max_tokens=512)
    assert example["target"] in task.prompt(example)  # the nominal prompt is the bare one


def test_fit_refuses_a_kv_prompt_with_only_the_needle_pair(tokenizer):
    example = SyntheticRetrieval(kind="kv").load("test", 1)[0]
    bare = n_tokens(tokenizer, kv_prompt(example["key"], example["target"], [], depth=0.5))
    task = SyntheticRetrieval(kind="kv", context_tokens=bare + 10)  # a pair of UUIDs has more than 10 tokens
    with pytest.raises(ValueError, match=f"the prompt without one has {bare} tokens"):
        task.fit(example, task.prompt(example), tokenizer, max_tokens=512)


def test_generation_settings_and_no_groups():
    passkey, kv = SyntheticRetrieval(kind="passkey"), SyntheticRetrieval(kind="kv")
    assert passkey.stop == kv.stop == ()
    # the answer fits even at one token per character
    assert passkey.max_new_tokens >= len(" 68231.") and kv.max_new_tokens >= len(f' "{"0" * 36}"')
    assert passkey.groups(passkey.load("test", 1)[0]) == {} == kv.groups(kv.load("test", 1)[0])


@pytest.mark.parametrize(
    "text, right",
    [
        (" 68231.", True),
        (" 68231. Remember it.", True),
        ("\n68231", True),
        (" The pass key is 68231", True),
        ("68231 is the pass key", True),
        (" 68232", False),
        (" 682310", False),  # the first run of digits is the answer
        (" 6823", False),
        (" 68,231", False),
        (" 12345 or 68231", False),
        ("", False),
        (" the pass key", False),
    ],
)
def test_passkey_score(text, right):
    task = SyntheticRetrieval(kind="passkey")
    assert task.score({"id": "x", "target": "68231"}, text) == {"exact_match": float(right)}
    assert (task.answer(text) is None) == (not re.search(r"\d", text))


VALUE = "3f2b8c1a-9d4e-4f6a-8b2c-1e5d7a9c0b3f"
OTHER = "7a1c3e5f-2b4d-4c6e-9f8a-0b1d3c5e7f9a"


@pytest.mark.parametrize(
    "text, right",
    [
        (f' "{VALUE}"', True),
        (f" {VALUE.upper()}", True),
        (f'\n"{VALUE}",\n "{OTHER}"', True),
        (f" The value is {VALUE}.", True),
        (f' "{OTHER}"', False),
        (f' "{OTHER}" or "{VALUE}"', False),
        (f' "{VALUE}0"', False),  # a longer hex run is not this UUID
        (f' "a{VALUE}"', False),
        (f' "{VALUE[:-1]}"', False),
        ("", False),
        (" 68231", False),
    ],
)
def test_kv_score(text, right):
    task = SyntheticRetrieval(kind="kv")
    assert task.score({"id": "x", "key": OTHER, "target": VALUE}, text) == {"exact_match": float(right)}


def test_extract_and_target():
    task = SyntheticRetrieval(kind="kv")
    assert task.extract(f" {VALUE.upper()} and more") == VALUE
    assert task.extract(" nothing") == task.no_answer and task.answer(" nothing") is None
    assert task.target({"id": "x", "target": VALUE}) == VALUE


@pytest.mark.parametrize(
    "params, field",
    [
        ({"depth": 1.5}, "depth"),
        ({"depth": -0.1}, "depth"),
        ({"depth": "middle"}, "depth"),
        ({"kind": "needle"}, "kind"),
        ({"context_tokens": 63}, "context_tokens"),
        ({"context_tokens": 100.0}, "context_tokens"),
        ({"n_examples": 0}, "n_examples"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_invalid_params_name_the_field(params, field):
    with pytest.raises(InvalidParameterError, match=repr(field)) as err:
        SyntheticRetrieval(**params)
    assert err.value.field == field
    with pytest.raises(InvalidParameterError):
        TASKS.build("synthetic_retrieval", **params)


def test_unknown_kind_suggests_the_closest():
    with pytest.raises(InvalidParameterError, match=r"did you mean 'passkey'\?"):
        SyntheticRetrieval(kind="passkye")
    with pytest.raises(InvalidParameterError, match=r"did you mean 'kv'\?"):
        TASKS.build("synthetic_retrieval", kind="kvs")


def test_invalid_split_and_limit():
    with pytest.raises(InvalidParameterError, match="split"):
        SyntheticRetrieval().load("validation")
    with pytest.raises(InvalidParameterError, match="limit"):
        SyntheticRetrieval().load("test", limit=-1)
