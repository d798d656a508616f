"""Per-token negative log-likelihoods of each generated sequence under the model."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register("token_nll", paper="")
@dataclasses.dataclass(frozen=True)
class TokenNLL(StatCalculator):
    """``[−log p(y_t | y_<t, x) for t = 1 … T]`` per example, from the generation's own log-probs
    (what sequence-likelihood measures share: ``max_sequence_prob`` sums it, ``perplexity`` averages it)."""

    requires: ClassVar[frozenset[str]] = frozenset({"generations"})

    def compute(self, inputs: Mapping[str, Any]) -> list[list[float]]:
        return [[-lp for lp in g.logprob] for g in inputs["generations"]]
