"""Perturbed questions: each example's question and n paraphrases of it by the cell's model."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from entropy_bench.methods.decoders.base import build_decoder
from entropy_bench.methods.registry import require
from entropy_bench.stats import STATISTICS, StatCalculator

PARAPHRASE_PROMPT = """\
Rewrite each question in other words. Keep its meaning and every number in it.

Question: Tom has 3 apples and buys 2 more. How many apples does he have now?
Rewritten: After buying 2 more apples, how many apples does Tom, who had 3, have?

Question: 7 + 5
Rewritten: the sum of 7 and 5

Question: {question}
Rewritten:"""
PARAPHRASER = build_decoder({"name": "temperature", "temperature": 1.0})


@STATISTICS.register(
    "perturbations",
    paper="Song et al. (2025), Inv-Entropy (paraphrase perturbation of the input); Li et al. (2025), "
          "Semantic Volume (perturbed queries)",
    url="https://arxiv.org/abs/2506.09684",
)
@dataclasses.dataclass(frozen=True)
class Perturbations(StatCalculator):
    """Per example, ``n + 1`` question texts: its own (``task.question``) and ``n`` paraphrases.

    The paraphrases are drawn from the cell's model (the ``generator`` input) with the fixed
    two-shot :data:`PARAPHRASE_PROMPT`, up to ``max_new_tokens`` tokens and the end of the line,
    by :data:`PARAPHRASER` (temperature 1, whatever the cell's decoder: the perturbed inputs
    are the same for every decoder of a model and seed, and their draws are cached once), as
    samples 1 … n of the row ``<example id>/paraphrase``; each is stripped of surrounding
    whitespace and kept as it is, empty or repeated (the reference code pads missing
    paraphrases with empty strings).

    Departure from the Inv-Entropy code (``paraphrase.py``: one GPT-3.5 call asking for 9
    paraphrases, split at newlines): n separate draws of one paraphrase each, which a small
    local model follows far more reliably than a numbered list.
    """

    n: int = 9
    max_new_tokens: int = 128  # room for a GSM8K-length question
    requires: ClassVar[frozenset[str]] = frozenset({"examples", "task", "generator"})

    def __post_init__(self):
        require(self.n >= 1, self.name, "n", f"must be at least 1 paraphrase, got {self.n}")
        require(self.max_new_tokens >= 1, self.name, "max_new_tokens", f"must be at least 1, got {self.max_new_tokens}")

    def compute(self, inputs: Mapping[str, Any]) -> list[list[str]]:
        task, examples = inputs["task"], inputs["examples"]
        questions = [task.question(e) for e in examples]
        drawn = inputs["generator"].draw([PARAPHRASE_PROMPT.format(question=q) for q in questions],
                                         [f"{e['id']}/paraphrase" for e in examples], self.n, decoder=PARAPHRASER,
                                         max_new_tokens=self.max_new_tokens, stop=("\n",))
        return [[q] + [g.text.strip() for g in row] for q, row in zip(questions, drawn)]
