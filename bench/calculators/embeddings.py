"""Sentence embeddings of each example's samples."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from entropy_bench.models.encoders import DEFAULT_EMBEDDING_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "embeddings",
    paper="Reimers & Gurevych (2019), Sentence-BERT (the default model: all-MiniLM-L6-v2)",
    url="https://arxiv.org/abs/1908.10084",
)
@dataclasses.dataclass(frozen=True)
class Embeddings(StatCalculator):
    """Per example, a float32 tensor [n_samples, d]: the sentence-transformers ``model``'s
    embeddings of the sample texts (not normalised; measures normalise as their paper says)."""

    model: str = DEFAULT_EMBEDDING_MODEL
    requires: ClassVar[frozenset[str]] = frozenset({"samples", "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        texts = [[g.text for g in row] for row in inputs["samples"]]
        flat = inputs["encoders"].embed(self.model, [t for row in texts for t in row])
        return list(flat.split([len(row) for row in texts])) if texts else []
