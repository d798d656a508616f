"""Synthetic long-context retrieval: a passkey, or the value of a key, hidden at a chosen depth
of a haystack whose length is counted in the tokens of the model that reads it.

Two kinds (``kind``), each the prompt of its paper:

``passkey`` (Mohtashami & Jaggi 2023, Landmark Attention; their ``generate_prompt``), five
lines joined by ``\\n``::

    There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there.
    The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. The grass is green. …
    The pass key is 68231. Remember it. 68231 is the pass key.
    The sky is blue. The sun is yellow. Here we go. There and back again. The grass is green. The sky is bl
    What is the pass key? The pass key is

The filler (``FILLER`` repeated, joined by spaces) is cut after a whole number of tokens and
split at the sentence boundary nearest ``depth`` of its length in characters (0 = all the
filler after the needle line, 1 = all of it before); the needle line goes between the two
parts, and an empty part leaves its line empty, as in the original. The key is a random
5-digit number per example.

``kv`` (Liu et al. 2023, Lost in the Middle; their ``kv_retrieval.prompt``)::

    Extract the value corresponding to the specified key in the JSON object below.

    JSON data:
    {"<key 1>": "<value 1>",
     "<key 2>": "<value 2>",
     …
     "<key m+1>": "<value m+1>"}

    Key: "<the needle's key>"
    Corresponding value:

with random UUID4 keys and values; the needle pair is pair ``round(depth · m)`` (from 0) among
``m`` distractor pairs (Python's ``round``), so it is first at depth 0 and last at depth 1.

**Length.** ``context_tokens`` is the prompt's length in the reading model's tokens, counted as
the generation loop encodes a prompt: ``tokenizer(prompt, add_special_tokens=False)`` (no BOS,
whatever the tokenizer's default). So the prompt depends on the tokenizer: :meth:`fit` sizes the
haystack for the model's tokenizer, and two models read different texts of equal token length.
``passkey`` prompts have exactly ``context_tokens`` tokens (or, where a token boundary makes that
unreachable, the most below it); ``kv`` prompts hold whole pairs, so they have the most tokens
``<= context_tokens`` that whole pairs reach (a pair is 63–77 tokens of SmolLM2's tokenizer).
:meth:`prompt` (with no tokenizer) is the same construction under :class:`WordTokenizer`, a
stand-in whose token counts are within a few percent of SmolLM2's on these prompts.

**Scoring.** ``exact_match`` is 1 when the first key-shaped string of the generation equals the
needle's value: the first run of digits for ``passkey`` (``" 68231."`` is right, ``" 682310"``
and ``" 68,231"`` are not), the first UUID-shaped string for ``kv`` (8-4-4-4-12 hex digits not
inside a longer hex run, compared case-insensitively). There is no stop sequence: the first
key-shaped string is the answer wherever it starts (a model may open with a newline), and the
task's ``max_new_tokens`` ends the generation soon after it: 10 for ``passkey`` (as Landmark
Attention's test; ``" 68231."`` is 7 tokens of SmolLM2's tokenizer), 48 for ``kv`` (``' "<uuid>"'``
is 29–38 tokens of SmolLM2's over 2000 random UUIDs, and 39 characters: it fits even one token
per character).

Example ``i`` of a split is drawn from ``random.Random(f"synthetic_retrieval/{seed}/{split}/{i}")``:
``target`` (the key or the value), for ``kv`` also ``key`` and ``haystack_seed`` (the seed of
its distractor pairs, drawn in order, so a longer haystack extends a shorter one).
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from entropy_bench.methods.registry import require, require_choice
from entropy_bench.tasks.base import TASKS, TextTask

KINDS = ("kv", "passkey")
MIN_CONTEXT_TOKENS = 64
MAX_NEW_TOKENS = {"passkey": 10, "kv": 48}

INSTRUCTION = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = "What is the pass key? The pass key is"
KV_INSTRUCTION = "Extract the value corresponding to the specified key in the JSON object below."

SENTENCE_BREAK = re.compile(r"(?<=\.) ")
PIECE = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+|\d| ?[^\s\w]+|_+|\s+(?!\S)|\s+")
ANSWER = {
    "passkey": re.compile(r"\d+"),
    "kv": re.compile(r"(?<![0-9a-f])[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}(?![0-9a-f])", re.IGNORECASE),
}
NO_ANSWER = "[invalid]"


class WordTokenizer:
    """A stand-in tokenizer for the nominal prompt: the pieces of GPT-2's pre-tokenizer are
    the tokens (a word with its leading space, a run of punctuation, of spaces), except that
    each digit is one token (as SmolLM2's and Llama's tokenizers split numbers)."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
        return {"input_ids": PIECE.findall(text)}

    def decode(self, ids: list[str]) -> str:
        return "".join(ids)


def needle_line(passkey: str) -> str:
    return f"The pass key is {passkey}. Remember it. {passkey} is the pass key."


def passkey_prompt(passkey: str, filler: str, depth: float) -> str:
    """The passkey prompt (module docstring) with ``filler`` split at the sentence boundary
    nearest ``depth · len(filler)`` (its ends included; ties to the earlier one)."""
    cuts = [0, *(m.start() for m in SENTENCE_BREAK.finditer(filler)), len(filler)]
    cut = min(cuts, key=lambda c: (abs(c - depth * len(filler)), c))
    return "\n".join([INSTRUCTION, filler[:cut], needle_line(passkey), filler[cut:].lstrip(" "), QUESTION])


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def distractors(seed: int, count: int) -> list[tuple[str, str]]:
    """The first ``count`` (key, value) pairs of the stream seeded by ``seed``."""
    rng = random.Random(seed)
    return [(random_uuid(rng), random_uuid(rng)) for _ in range(count)]


def kv_prompt(key: str, value: str, pairs: list[tuple[str, str]], depth: float) -> str:
    """The kv prompt (module docstring): the needle pair inserted at ``round(depth · len(pairs))``."""
    pairs = list(pairs)
    pairs.insert(round(depth * len(pairs)), (key, value))
    records = ",\n ".join(f'"{k}": "{v}"' for k, v in pairs)
    return f'{KV_INSTRUCTION}\n\nJSON data:\n{{{records}}}\n\nKey: "{key}"\nCorresponding value:'


def longest_fitting(length: Callable[[int], int], target: int, upper: int) -> int | None:
    """The largest ``n`` in ``[0, upper]`` with ``length(n) <= target`` (``None`` if not even
    ``length(0)`` fits), for a ``length`` that grows about linearly in ``n``: a secant estimate
    from the slope over the first 8 units, refined twice, then unit steps to the edge (the
    edge as seen from there, where ``length`` is not monotonic by a token)."""
    length = functools.cache(length)
    if length(0) > target:
        return None
    slope = max((length(min(8, upper)) - length(0)) / min(8, upper), 1e-9)
    n = 0
    for _ in range(3):
        n = min(max(n + int((target - length(n)) / slope), 0), upper)
    while n > 0 and length(n) > target:
        n -= 1
    while n < upper and length(n + 1) <= target:
        n += 1
    return n


@TASKS.register(
    "synthetic_retrieval",
    paper="Passkey retrieval of Mohtashami & Jaggi (2023), Landmark Attention (arXiv 2305.16300), and "
    "key-value retrieval of Liu et al. (2023), Lost in the Middle (arXiv 2307.03172), generated offline",
    url="https://arxiv.org/abs/2305.16300",
)
@dataclasses.dataclass(frozen=True)
class SyntheticRetrieval(TextTask):
    """A passkey or a key's value at ``depth`` of a ``context_tokens``-token prompt (module docstring).

    No ``groups``: ``depth`` and ``context_tokens`` are the same for every example of a task, so
    a group would repeat the task's overall metrics; they are in the task id of every result row,
    and a sweep over them is a sweep over tasks.
    """

    version = "1"
    primary_metric = "exact_match"
    no_answer: ClassVar[str | None] = NO_ANSWER

    kind: str = "passkey"
    context_tokens: int = 1024
    depth: float = 0.5
    n_examples: int = 100
    seed: int = 0

    def __post_init__(self):
        require_choice(self.kind, KINDS, self.name, "kind")
        for field, low in (("context_tokens", MIN_CONTEXT_TOKENS), ("n_examples", 1), ("seed", None)):
            value = getattr(self, field)
            ok = isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)
            bound = "" if low is None else f" >= {low}"
            require(ok, self.name, field, f"must be an integer{bound}, got {value!r}")
        ok = isinstance(self.depth, (int, float)) and not isinstance(self.depth, bool) and 0 <= self.depth <= 1
        require(ok, self.name, "depth", f"must be a number in [0, 1], got {self.depth!r}")

    @property
    def max_new_tokens(self) -> int:  # type: ignore[override]
        return MAX_NEW_TOKENS[self.kind]

    def load(self, split: str = "test", limit: int | None = None) -> list[dict[str, Any]]:
        self.check_load(split, limit)
        count = self.n_examples if limit is None else min(limit, self.n_examples)
        return [self._example(split, i) for i in range(count)]

    def _example(self, split: str, index: int) -> dict[str, Any]:
        rng = random.Random(f"synthetic_retrieval/{self.seed}/{split}/{index}")
        example_id = f"synthetic_retrieval/{split}/{index}"
        if self.kind == "passkey":
            return {"id": example_id, "target": str(rng.randint(10_000, 99_999))}
        key, value = random_uuid(rng), random_uuid(rng)
        return {"id": example_id, "key": key, "target": value, "haystack_seed": rng.getrandbits(64)}

    def prompt(self, example: dict[str, Any]) -> str:
        """The prompt at the nominal length: ``context_tokens`` tokens of :class:`WordTokenizer`
        (the prompt with no haystack where they leave no room for one: :meth:`fit` refuses those)."""
        build, units = self._sized(example, WordTokenizer())
        return build(units or 0)

    def fit(self, example: dict[str, Any], prompt: str, tokenizer: Any, max_tokens: int) -> str:
        """The prompt of ``context_tokens`` tokens of ``tokenizer`` (module docstring), rebuilt
        from ``example`` (``prompt``, the nominal one, is not used). :class:`ValueError` when
        they exceed the ``max_tokens`` that the model's window leaves for the prompt, or leave
        no room for a haystack (not one filler token, or not one distractor pair)."""
        if self.context_tokens > max_tokens:
            raise ValueError(
                f"{self.id}: a prompt of context_tokens={self.context_tokens} tokens does not fit the model: "
                f"its context window leaves {max_tokens} tokens for the prompt (the window less max_new_tokens)"
            )
        build, units = self._sized(example, tokenizer)
        if not units:
            bare = len(tokenizer(build(0), add_special_tokens=False)["input_ids"])
            raise ValueError(f"{self.id}: context_tokens={self.context_tokens} leaves no room for a haystack: "
                             f"the prompt without one has {bare} tokens of this tokenizer")
        return build(units)

    def _sized(self, example: dict[str, Any], tokenizer: Any) -> tuple[Callable[[int], str], int | None]:
        """The prompt builder (:meth:`_builder`) and the most haystack units whose prompt has at
        most ``context_tokens`` tokens of ``tokenizer`` (``None`` if none fits)."""
        build, upper = self._builder(example, tokenizer)
        units = longest_fitting(lambda n: len(tokenizer(build(n), add_special_tokens=False)["input_ids"]),
                                self.context_tokens, upper)
        return build, units

    def _builder(self, example: dict[str, Any], tokenizer: Any) -> tuple[Callable[[int], str], int]:
        """The prompt of a haystack of ``n`` units (filler tokens, or distractor pairs), and the
        most units there are (more than ``context_tokens`` tokens of them)."""
        if self.kind == "kv":
            def build_kv(n: int) -> str:
                return kv_prompt(example["key"], example["target"], distractors(example["haystack_seed"], n),
                                 self.depth)
            return build_kv, self.context_tokens
        unit = len(tokenizer(" " + FILLER, add_special_tokens=False)["input_ids"])
        filler = " ".join([FILLER] * (self.context_tokens // unit + 2))
        ids = tokenizer(filler, add_special_tokens=False)["input_ids"]
        return (lambda n: passkey_prompt(example["target"], tokenizer.decode(ids[:n]), self.depth)), len(ids)

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        return {"exact_match": float(self.extract(text) == example["target"].lower())}

    def extract(self, text: str) -> str:
        """The first key-shaped string of ``text`` (lower-cased), or ``"[invalid]"``."""
        match = ANSWER[self.kind].search(text)
        return match.group().lower() if match else NO_ANSWER
