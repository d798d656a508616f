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
        return embed_rows(inputs["encoders"], self.model, [[g.text for g in row] for row in inputs["samples"]])


def embed_rows(encoders: Any, model: str, rows: list[list[str]]) -> list:
    """Per row of texts, a tensor [len(row), d] of their embeddings, from one call of the encoder."""
    flat = encoders.embed(model, [t for row in rows for t in row])
    return list(flat.split([len(row) for row in rows])) if rows else []
