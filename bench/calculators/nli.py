"""NLI probabilities between every ordered pair of an example's samples."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from entropy_bench.calculators.distinct_pairs import score_distinct_pairs
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

    Only the ordered pairs of distinct texts go to the model, all examples' pairs in one
    batched call (:func:`score_distinct_pairs`)."""

    model: str = DEFAULT_NLI_MODEL
    requires: ClassVar[frozenset[str]] = frozenset({"samples", "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        rows = [[g.text for g in row] for row in inputs["samples"]]
        return score_distinct_pairs(rows, lambda pairs: inputs["encoders"].nli(self.model, pairs))
