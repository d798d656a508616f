"""Sentence embeddings of the responses to each example's perturbed questions."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from entropy_bench.calculators.perturbation_responses import PerturbationResponses
from entropy_bench.models.encoders import DEFAULT_EMBEDDING_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "response_embeddings",
    paper="Reimers & Gurevych (2019), Sentence-BERT (the default model: all-MiniLM-L6-v2)",
    url="https://arxiv.org/abs/1908.10084",
)
@dataclasses.dataclass(frozen=True)
class ResponseEmbeddings(StatCalculator):
    """Per example, a float32 tensor [n + 1, r, d]: the sentence-transformers ``model``'s
    embeddings of :class:`PerturbationResponses` ``(n, r)`` (not normalised)."""

    model: str = DEFAULT_EMBEDDING_MODEL
    n: int = 9
    r: int = 5

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({PerturbationResponses(self.n, self.r), "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        responses = inputs[PerturbationResponses(self.n, self.r)]
        texts = [t for example in responses for row in example for t in row]
        if not texts:
            return []
        flat = inputs["encoders"].embed(self.model, texts)
        return list(flat.reshape(len(responses), self.n + 1, self.r, -1))
