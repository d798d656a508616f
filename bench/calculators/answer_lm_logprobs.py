"""The answers' token log-probs under the model without the question: log p(y_t | y_<t)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from entropy_bench.scoring import continuation_logprobs
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "answer_lm_logprobs",
    paper="van der Poel, Cotterell & Meister (2022), Mutual Information Alleviates Hallucinations in "
          "Abstractive Summarization (the unconditional term of PMI)",
    url="https://arxiv.org/abs/2210.13210",
)
@dataclasses.dataclass(frozen=True)
class AnswerLMLogprobs(StatCalculator):
    """Per example, a list of floats: ``log p(y_t | y_<t)`` for each token of the cell's answer
    (the tokens its ``logprob`` covers), by the cell's model (the ``generator`` input) reading
    the answer alone, with no prompt. The first token has no context: NaN (LM-Polygraph's
    ``GreedyLMProbsCalculator`` leaves it out the same way)."""

    requires: ClassVar[frozenset[str]] = frozenset({"generations", "generator"})

    def compute(self, inputs: Mapping[str, Any]) -> list[list[float]]:
        answers = [list(g.token_ids) for g in inputs["generations"]]
        return continuation_logprobs(inputs["generator"].lm, [[] for _ in answers], answers)
