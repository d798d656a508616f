"""Arithmetic problems generated offline, with a difficulty knob, as expressions or word problems.

Example ``i`` of a split is drawn from its own ``random.Random(f"arithmetic/{seed}/{split}/{i}")``
(string seeds hash with SHA-512, so streams are stable across processes and Python runs;
``train`` and ``test`` are independent streams, and the first ``limit`` examples do not depend
on ``n_examples``)::

    style="word":        Lena has 4 marbles. She gets 7 more and then gives away 2. How many marbles does Lena have now?
    style="expression":  4 + 7 - 2 =

``num_fewshot`` solved examples from the ``train`` stream precede every question (the same ones
for every question), formatted like the question with the answer after it.

Difficulty:

- ``digits``: every operand has exactly ``digits`` digits, in ``[10**(digits-1), 10**digits - 1]``
  (``[1, 9]`` for one digit); multiplication factors are at least 2.
- ``steps``: the number of operations applied to the starting amount.
- ``ops``: the operations drawn from, uniformly per step: ``+`` (gets more), ``-`` (gives
  away), ``*`` (ends up with k times as many).

The starting amount is a draw from the same range; when that is smaller than the ``need``
that keeps every intermediate amount ``>= 0`` (:func:`min_start`), it becomes ``need + draw``
instead (so subtraction-heavy problems do not all end at 0). Every intermediate amount and
the answer are non-negative integers. Each example keeps ``start``, ``ops`` and ``operands`` so the
answer can be recomputed: ``answer = (((start op_1 x_1) op_2 x_2) …)``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from fractions import Fraction
from typing import Any, ClassVar

from entropy_bench.methods.registry import require
from entropy_bench.tasks.base import TASKS, TextTask

OPS = "+-*"
STOP = ("\n\n", "Question:", "<|im_end|>")
STYLES = ("expression", "word")

NAMES = (
    ("Lena", "She"),
    ("Omar", "He"),
    ("Priya", "She"),
    ("Jonas", "He"),
    ("Mei", "She"),
    ("Tom", "He"),
    ("Sara", "She"),
    ("Diego", "He"),
    ("Aisha", "She"),
    ("Ben", "He"),
)
OBJECTS = (
    ("marble", "marbles"),
    ("sticker", "stickers"),
    ("apple", "apples"),
    ("coin", "coins"),
    ("book", "books"),
    ("pencil", "pencils"),
    ("shell", "shells"),
    ("card", "cards"),
    ("stamp", "stamps"),
    ("button", "buttons"),
)
PHRASES = {
    "+": ("gets {x} more", "finds {x} more", "buys {x} more", "is given {x} more"),
    "-": ("gives away {x}", "loses {x}", "sells {x}", "trades away {x}"),
    "*": ("ends up with {x} times as many",),
}
NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


def operand_range(digits: int, op: str = "+") -> tuple[int, int]:
    """Inclusive range of a ``digits``-digit operand (factors of ``*`` start at 2)."""
    low = 10 ** (digits - 1)
    return (max(low, 2) if op == "*" else low), 10**digits - 1


def apply(value: int, op: str, x: int) -> int:
    return value + x if op == "+" else value - x if op == "-" else value * x


def min_start(ops: list[str], operands: list[int]) -> int:
    """Smallest start ``s >= 0`` keeping every intermediate amount ``>= 0``.

    After k steps the amount is ``a_k * s + b_k`` with ``a_k >= 1`` (``+``/``-`` add to ``b``,
    ``*`` scales both), so it is ``>= 0`` iff ``s >= ceil(-b_k / a_k)``.
    """
    a, b, need = 1, 0, 0
    for op, x in zip(ops, operands):
        a, b = (a * x, b * x) if op == "*" else (a, apply(b, op, x))
        need = max(need, math.ceil(-b / a))
    return need


def join_steps(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    if len(phrases) == 2:
        return f"{phrases[0]} and then {phrases[1]}"
    return ", then ".join(phrases[:-1]) + f", and then {phrases[-1]}"


def generate(rng: random.Random, digits: int, steps: int, ops: str) -> dict[str, Any]:
    """One problem: structured fields, its text and its answer."""
    name, pronoun = rng.choice(NAMES)
    singular, plural = rng.choice(OBJECTS)
    chosen = [rng.choice(ops) for _ in range(steps)]
    operands = [rng.randint(*operand_range(digits, op)) for op in chosen]
    draw, need = rng.randint(*operand_range(digits)), min_start(chosen, operands)
    start = draw if draw >= need else need + draw
    phrases = [rng.choice(PHRASES[op]).format(x=x) for op, x in zip(chosen, operands)]
    answer = start
    for op, x in zip(chosen, operands):
        answer = apply(answer, op, x)
    expression = str(start)
    for op, x in zip(chosen, operands):
        grouped = op == "*" and (" + " in expression or " - " in expression)
        expression = f"({expression}) * {x}" if grouped else f"{expression} {op} {x}"
    question = (
        f"{name} has {start} {singular if start == 1 else plural}. {pronoun} {join_steps(phrases)}. "
        f"How many {plural} does {name} have now?"
    )
    return {
        "question": question,
        "expression": expression,
        "answer": answer,
        "start": start,
        "ops": chosen,
        "operands": operands,
    }


def extract_answer(text: str) -> Fraction | None:
    """The first number in ``text`` (commas as thousands separators allowed), or ``None``.

    Exact (a ``Fraction``), so ``"16.0"`` equals 16 and large answers never round.
    """
    match = NUMBER.search(text)
    return Fraction(match.group().replace(",", "")) if match else None


@TASKS.register("arithmetic", paper="(generated offline) multi-step arithmetic, as expressions or word problems")
@dataclasses.dataclass(frozen=True)
class Arithmetic(TextTask):
    """Generated arithmetic: ``steps`` operations from ``ops`` on ``digits``-digit numbers.

    Prompt (after ``num_fewshot`` solved train examples, each followed by a blank line):
    ``"<expression> ="`` for ``style="expression"``, and
    ``"Question: <problem>\\nAnswer with a single number.\\nAnswer:"`` for ``style="word"``.
    The default (1-digit, one step, expressions, 4 shots) puts SmolLM2-135M-Instruct between
    20 % and 80 % (measured accuracy in the README). Scoring takes
    the **first** number of the generation (cut at the stop sequences): the prompt asks for the
    number right after "Answer:", so the first number is the model's committed answer, and
    whatever a small model adds after it (a restated problem, a new question) must not count.
    Word problems stop at a blank line rather than any newline, since a model may open with a
    newline before its number; expressions stop at the end of the line. ``exact_match`` is 1 when that number equals the answer.
    """

    version = "2"
    primary_metric = "exact_match"

    digits: int = 1
    steps: int = 1
    ops: str = "+-"
    style: str = "expression"
    num_fewshot: int = 4
    n_examples: int = 200
    seed: int = 0

    def __post_init__(self):
        require(self.style in STYLES, self.name, "style", f"must be one of {STYLES}, got {self.style!r}")
        fields = (("digits", 1), ("steps", 1), ("num_fewshot", 0), ("n_examples", 1), ("seed", None))
        for field, low in fields:
            value = getattr(self, field)
            ok = isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)
            bound = "" if low is None else f" >= {low}"
            require(ok, self.name, field, f"must be an integer{bound}, got {value!r}")
        ok = isinstance(self.ops, str) and len(self.ops) > 0 and set(self.ops) <= set(OPS)
        require(ok, self.name, "ops", f"must be a non-empty string of {OPS!r}, got {self.ops!r}")
        require(
            len(set(self.ops)) == len(self.ops), self.name, "ops", f"has repeated operations: {self.ops!r}"
        )

    def load(self, split: str = "test", limit: int | None = None) -> list[dict[str, Any]]:
        self.check_load(split, limit)
        count = self.n_examples if limit is None else min(limit, self.n_examples)
        return [
            {
                "id": f"arithmetic/{split}/{i}",
                **generate(self.rng(split, i), self.digits, self.steps, self.ops),
            }
            for i in range(count)
        ]

    def rng(self, split: str, index: int) -> random.Random:
        return random.Random(f"arithmetic/{self.seed}/{split}/{index}")

    @property
    def stop(self) -> tuple[str, ...]:
        return ("\n", *STOP) if self.style == "expression" else STOP

    @property
    def question_field(self) -> str:  # type: ignore[override]
        return "expression" if self.style == "expression" else "question"

    def _format(self, example: dict[str, Any]) -> str:
        if self.style == "expression":
            return f"{example['expression']} ="
        return f"Question: {example['question']}\nAnswer with a single number.\nAnswer:"

    def prompt(self, example: dict[str, Any]) -> str:
        shots = self.load("train", self.num_fewshot) if self.num_fewshot else []
        context = "".join(f"{self._format(shot)} {shot['answer']}\n\n" for shot in shots)
        return context + self._format(example)

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        return {"exact_match": float(self._answer(text) == example["answer"])}

    no_answer: ClassVar[str | None] = str(None)

    def extract(self, text: str) -> str:
        return str(self._answer(text))

    def target(self, example: dict[str, Any]) -> str:
        return str(example["answer"])

    def _answer(self, text: str) -> Fraction | None:
        for s in self.stop:
            text = text.split(s)[0]
        return extract_answer(text)
