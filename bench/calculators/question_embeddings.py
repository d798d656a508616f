"""Sentence embeddings of each example's perturbed questions."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from entropy_bench.calculators.embeddings import embed_rows
from entropy_bench.calculators.perturbations import Perturbations
from entropy_bench.models.encoders import DEFAULT_EMBEDDING_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "question_embeddings",
    paper="Reimers & Gurevych (2019), Sentence-BERT (the default model: all-MiniLM-L6-v2)",
    url="https://arxiv.org/abs/1908.10084",
)
@dataclasses.dataclass(frozen=True)
class QuestionEmbeddings(StatCalculator):
    """Per example, a float32 tensor [n + 1, d]: the sentence-transformers ``model``'s embeddings
    of the questions of :class:`Perturbations` ``(n)`` (its own first; not normalised)."""

    model: str = DEFAULT_EMBEDDING_MODEL
    n: int = 9

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({Perturbations(self.n), "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        return embed_rows(inputs["encoders"], self.model, inputs[Perturbations(self.n)])
