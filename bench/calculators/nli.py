"""NLI probabilities between every ordered pair of an example's samples."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import torch

from entropy_bench.models.encoders import DEFAULT_NLI_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "nli",
    paper="Kuhn, Gal & Farquhar (2023), Semantic Uncertainty (bidirectional entailment with an MNLI model)",
    url="https://arxiv.org/abs/2302.09664",
)
@dataclasses.dataclass(frozen=True)
class NLIProbs(StatCalculator):
    """Per example, a float32 tensor [n, n, 3]: P(entailment, neutral, contradiction) of the
    ``model`` with sample i as premise and sample j as hypothesis.

    Samples often repeat: only the ordered pairs of *distinct* texts (a text with itself
    included, as LM-Polygraph does) go to the model, all examples' pairs in one batched call,
    and the matrix is expanded back to the samples."""

    model: str = DEFAULT_NLI_MODEL
    requires: ClassVar[frozenset[str]] = frozenset({"samples", "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        rows = [[g.text for g in row] for row in inputs["samples"]]
        distinct = [sorted(set(texts)) for texts in rows]
        pairs = [(a, b) for texts in distinct for a in texts for b in texts]
        probs = inputs["encoders"].nli(self.model, pairs) if pairs else torch.zeros(0, 3)
        out, start = [], 0
        for texts, unique in zip(rows, distinct):
            k = len(unique)
            block = probs[start : start + k * k].view(k, k, 3)
            start += k * k
            index = torch.tensor([unique.index(t) for t in texts], dtype=torch.long)
            out.append(block[index][:, index])
        return out
