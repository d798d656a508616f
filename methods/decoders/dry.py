"""DRY ("don't repeat yourself"): penalise the tokens that would extend a repeat of the row's own context."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from entropy_bench.methods.decoders.base import Decoder
from entropy_bench.methods.registry import DECODERS, require

MAX_MATCH = 50  # as the reference: bounds the exponent and the worst-case scan


class DRYState(NamedTuple):
    """Per-row token history (prompt, then every drawn token) and the sequence-breaker token ids."""

    history: list[list[int]]
    breakers: frozenset[int]


def match_lengths(history: Sequence[int], breakers: frozenset[int], max_match: int = MAX_MATCH) -> dict[int, int]:
    """For each token t that followed an earlier occurrence of the row's last token, the length n
    of the longest suffix of ``history`` that, followed by t, occurs earlier (so choosing t would
    repeat n + 1 tokens). A match neither starts at nor extends back across a sequence breaker,
    and t itself is never a breaker."""
    ids = np.asarray(history, dtype=np.int64)
    if len(ids) < 2 or int(ids[-1]) in breakers:
        return {}
    lengths: dict[int, int] = {}
    for i in np.flatnonzero(ids[:-1] == ids[-1]).tolist():
        follower = int(ids[i + 1])
        if follower in breakers:
            continue
        n = 1
        while n < max_match and i - n >= 0:
            previous = int(ids[-(n + 1)])
            if int(ids[i - n]) != previous or previous in breakers:
                break
            n += 1
        lengths[follower] = max(n, lengths.get(follower, 0))
    return lengths


@DECODERS.register(
    "dry",
    paper="Weidmann (2024), DRY: a modern repetition penalty (text-generation-webui pull request #5677)",
    url="https://github.com/oobabooga/text-generation-webui/pull/5677",
)
@dataclasses.dataclass(frozen=True)
class DRY(Decoder):
    """For each candidate token t whose choice would extend a repeat of length n ≥ ``allowed_length``
    (:func:`match_lengths`, over the last ``penalty_range`` tokens of the row's context, or all
    of it at 0), subtract from its logit

        penalty(t) = multiplier · base^(n − allowed_length)

    Defaults (multiplier 0.8, base 1.75, allowed length 2, breakers newline, ``:``, ``"``, ``*``)
    are those of the reference implementation (text-generation-webui's ``DRYLogitsProcessor``).
    A breaker string is the id of its last token when encoded after a letter (``"a" + s``, so
    that tokenizers that merge a leading space still give the in-context token); without a
    tokenizer (``LogitsProcessorAdapter`` built without one) there are no breakers. The context
    is the row's prompt (``Decoder.start``) and its drawn tokens (``observe``): rows never see
    each other, so results do not depend on the batch. Matching runs per row on the CPU
    (numpy), as in the reference.
    """

    multiplier: float = 0.8
    base: float = 1.75
    allowed_length: int = 2
    sequence_breakers: tuple[str, ...] = ("\n", ":", '"', "*")
    penalty_range: int = 0

    def __post_init__(self):
        object.__setattr__(self, "sequence_breakers", tuple(self.sequence_breakers))
        require(self.multiplier >= 0, self.name, "multiplier", f"must be >= 0, got {self.multiplier!r}")
        require(self.base >= 1, self.name, "base", f"must be >= 1, got {self.base!r}")
        for field in ("allowed_length", "penalty_range"):
            value = getattr(self, field)
            require(isinstance(value, int) and value >= 0, self.name, field, f"must be an integer >= 0, got {value!r}")
        require(all(isinstance(s, str) and s for s in self.sequence_breakers), self.name, "sequence_breakers",
                "must be non-empty strings")

    def init_state(self, batch_size: int, device: torch.device) -> DRYState:
        return DRYState([[] for _ in range(batch_size)], frozenset())

    def start(self, state: DRYState, context: Sequence[Sequence[int]], tokenizer: Any = None,
              seeds: Sequence[int] | None = None) -> DRYState:
        breakers = frozenset() if tokenizer is None else frozenset(
            tokenizer.encode("a" + s, add_special_tokens=False)[-1] for s in self.sequence_breakers
        )
        return DRYState([list(row) for row in context], breakers)

    def step(self, logits: torch.Tensor, state: DRYState | None) -> tuple[torch.Tensor, DRYState]:
        state = self.init_state(logits.shape[0], logits.device) if state is None else state
        rows, cols, values = [], [], []
        for row, history in enumerate(state.history):
            window = history[-self.penalty_range:] if self.penalty_range else history
            for token, n in match_lengths(window, state.breakers).items():
                if n >= self.allowed_length and token < logits.shape[-1]:
                    rows.append(row)
                    cols.append(token)
                    values.append(self.multiplier * math.pow(self.base, n - self.allowed_length))
        if not rows:
            return logits, state
        penalty = torch.zeros_like(logits)
        penalty[rows, cols] = torch.tensor(values, dtype=logits.dtype, device=logits.device)
        return logits - penalty, state

    def observe(self, state: DRYState, logits: torch.Tensor, tokens: torch.Tensor) -> DRYState:
        return DRYState([h + [t] for h, t in zip(state.history, tokens.tolist())], state.breakers)
