"""Arithmetic word problems: determinism, correct answers, difficulty knobs, scoring."""

from __future__ import annotations

import operator
import re

import pytest

from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
from entropy_bench.tasks import arithmetic
from entropy_bench.tasks.arithmetic import Arithmetic
from entropy_bench.tasks.base import TASKS

OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
# The phrase of each operation, recognised independently of the generator's tables.
STEP = re.compile(
    r"(gets|finds|buys|is given) (\d+) more"
    r"|(gives away|loses|sells|trades away) (\d+)"
    r"|ends up with (\d+) times as many"
)


def parse(question: str) -> tuple[int, list[str], list[int]]:
    """Start, operations and operands read back from the question text."""
    start = int(re.match(r"\w+ has (\d+) ", question).group(1))
    ops, operands = [], []
    for m in STEP.finditer(question):
        op = "+" if m.group(1) else "-" if m.group(3) else "*"
        ops.append(op)
        operands.append(int(m.group(2) or m.group(4) or m.group(5)))
    return start, ops, operands


def evaluate(start: int, ops: list[str], operands: list[int]) -> list[int]:
    """Every amount along the way, start first."""
    amounts = [start]
    for op, x in zip(ops, operands, strict=True):
        amounts.append(OPERATORS[op](amounts[-1], x))
    return amounts


def test_registry_lookup_and_did_you_mean():
    entry = TASKS.get("arithmetic")
    assert entry.factory is Arithmetic
    assert entry.params == {
        "digits": 1, "steps": 1, "ops": "+-", "style": "expression", "num_fewshot": 4, "n_examples": 200, "seed": 0
    }
    with pytest.raises(UnknownMethodError, match="did you mean 'arithmetic'"):
        TASKS.get("arithmetc")
    assert (
        TASKS.build("arithmetic", digits=2).id
        == "arithmetic(digits=2,n_examples=200,num_fewshot=4,ops=+-,seed=0,steps=1,style=expression)"
    )


def test_same_seed_same_examples_other_seed_different():
    assert Arithmetic(seed=3).load("test") == Arithmetic(seed=3).load("test")
    a, b = Arithmetic(seed=3).load("test"), Arithmetic(seed=4).load("test")
    assert sum(x["question"] != y["question"] for x, y in zip(a, b)) > 0.9 * len(a)


def test_splits_are_independent_streams_and_limit_is_a_prefix():
    task = Arithmetic(n_examples=50)
    test, train = task.load("test"), task.load("train")
    assert [e["question"] for e in test] != [e["question"] for e in train]
    assert task.load("test", limit=7) == test[:7]
    assert Arithmetic(n_examples=80).load("test")[:50] == test  # n_examples only extends the list
    assert len(task.load("test", limit=500)) == 50
    assert task.load("test", limit=0) == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"digits": 2, "steps": 3},
        {"ops": "-", "steps": 5},
        {"ops": "+-*", "steps": 4, "digits": 2},
        {"ops": "*", "digits": 1},
    ],
)
def test_answers_are_right_non_negative_and_ids_unique(params):
    examples = Arithmetic(**params).load("test")
    assert len({e["id"] for e in examples}) == len(examples) == 200
    assert all(e["id"] == f"arithmetic/test/{i}" for i, e in enumerate(examples))
    for e in examples:
        start, ops, operands = parse(e["question"])
        assert (start, ops, operands) == (e["start"], e["ops"], e["operands"]), e["question"]
        amounts = evaluate(start, ops, operands)
        assert e["answer"] == amounts[-1]
        assert isinstance(e["answer"], int) and min(amounts) >= 0, e["question"]


def test_subtraction_only_problems_do_not_all_end_at_zero():
    answers = [e["answer"] for e in Arithmetic(ops="-", steps=4).load("test")]
    assert sum(a == 0 for a in answers) < 0.2 * len(answers)


@pytest.mark.parametrize("digits", [1, 2, 3])
def test_digits_sets_operand_range(digits):
    low, high = 10 ** (digits - 1), 10**digits - 1
    examples = Arithmetic(digits=digits, ops="+-*", steps=3).load("test")
    operands = [(op, x) for e in examples for op, x in zip(e["ops"], e["operands"])]
    assert all(low <= x <= high for _, x in operands)
    assert all(x >= 2 for op, x in operands if op == "*")
    slack = (high - low) // 20  # the draws span the whole range
    assert (
        min(x for op, x in operands if op != "*") <= low + slack
        and max(x for _, x in operands) >= high - slack
    )
    assert all(e["start"] >= low for e in examples)
    plus_only = Arithmetic(digits=digits, ops="+").load("test")
    assert all(low <= e["start"] <= high for e in plus_only)  # nothing to make up for without "-"


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_steps_and_ops_set_the_operations(steps):
    for ops in ("+", "-", "+-", "+-*"):
        examples = Arithmetic(steps=steps, ops=ops).load("test", limit=60)
        assert all(len(e["ops"]) == len(e["operands"]) == steps for e in examples)
        assert set(op for e in examples for op in e["ops"]) == set(ops)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"digits": 0}, "digits"),
        ({"steps": 0}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"n_examples": 0}, "n_examples"),
        ({"ops": ""}, "ops"),
        ({"ops": "+/"}, "ops"),
        ({"ops": "++"}, "ops"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_invalid_params_name_the_field(params, field):
    with pytest.raises(InvalidParameterError, match=repr(field)) as err:
        Arithmetic(**params)
    assert err.value.field == field
    with pytest.raises(InvalidParameterError):
        TASKS.build("arithmetic", **params)


def test_invalid_split_and_limit():
    with pytest.raises(InvalidParameterError, match="split"):
        Arithmetic().load("validation")
    with pytest.raises(InvalidParameterError, match="limit"):
        Arithmetic().load("test", limit=-2)


def test_word_prompt_and_stop():
    task = Arithmetic(style="word", num_fewshot=0)
    example = task.load("test", limit=1)[0]
    assert task.prompt(example) == f"Question: {example['question']}\nAnswer with a single number.\nAnswer:"
    assert {"Question:", "\n\n"} <= set(task.stop) and "\n" not in task.stop
    assert task.primary_metric == "exact_match" and isinstance(task.version, str)


def test_expression_prompt_has_fewshot_from_train_and_stops_at_newline():
    task = Arithmetic(num_fewshot=2)
    example = task.load("test", limit=1)[0]
    shots = task.load("train", limit=2)
    expected = "".join(f"{s['expression']} = {s['answer']}\n\n" for s in shots) + f"{example['expression']} ="
    assert task.prompt(example) == expected
    assert "\n" in task.stop
    # the expression evaluates (Python precedence, parentheses where added) to the answer
    for ex in Arithmetic(ops="+-*", steps=3).load("test", limit=50):
        assert eval(ex["expression"]) == ex["answer"]


@pytest.mark.parametrize(
    "text, right",
    [
        (" 15", True),
        (" 15\n", True),
        ("\n15", True),  # a leading newline is not a stop
        (" 15.", True),
        (" 15.0 marbles", True),
        (" $15", True),
        (" The answer is 15.", True),
        (" 15\n\nQuestion: Tom has 3 cards. How many? Answer: 3", True),
        (" 15, because 6 + 2 + 7 = 15", True),
        (" 6 + 2 + 7 = 15", False),  # the first number is the answer given
        (" 14", False),
        (" 150", False),
        (" 1.5", False),
        (" -15", False),
        (" fifteen", False),
        ("", False),
        ("\n\n15", False),  # cut at the blank line: nothing generated before it
    ],
)
def test_score_hand_written(text, right):
    task = Arithmetic(style="word")
    example = {"id": "x", "question": "…", "answer": 15, "start": 6, "ops": ["+", "+"], "operands": [2, 7]}
    assert task.score(example, text) == {"exact_match": float(right)}


def test_score_large_numbers_exactly():
    task = Arithmetic()
    example = {"id": "x", "answer": 12_345_678_901_234_567}
    assert task.score(example, " 12,345,678,901,234,567")["exact_match"] == 1.0
    assert task.score(example, " 12345678901234568")["exact_match"] == 0.0
    assert arithmetic.extract_answer("none") is None
