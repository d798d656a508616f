"""NLI entailment between an example's perturbed questions, and between all the responses to them."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from entropy_bench.calculators.distinct_pairs import score_distinct_pairs
from entropy_bench.calculators.perturbation_responses import PerturbationResponses
from entropy_bench.calculators.perturbations import Perturbations
from entropy_bench.models.encoders import DEFAULT_NLI_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "perturbation_nli",
    paper="Song et al. (2025), Inv-Entropy (a pluggable similarity of inputs and of responses); "
          "entailment as in Kuhn, Gal & Farquhar (2023)",
    url="https://arxiv.org/abs/2506.09684",
)
@dataclasses.dataclass(frozen=True)
class PerturbationNLI(StatCalculator):
    """Per example, ``{"questions": [n + 1, n + 1], "responses": [(n + 1) r, (n + 1) r]}``
    (float32): P(entailment | premise i, hypothesis j) of the NLI ``model`` between the questions
    of :class:`Perturbations` ``(n)``, and between all responses of :class:`PerturbationResponses`
    ``(n, r)``, flattened question by question (response k to question i at ``i·r + k``).

    Only the ordered pairs of distinct texts are classified, every example's questions and
    responses in one batched call (:func:`score_distinct_pairs`)."""

    model: str = DEFAULT_NLI_MODEL
    n: int = 9
    r: int = 5

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({Perturbations(self.n), PerturbationResponses(self.n, self.r), "encoders"})

    def compute(self, inputs: Mapping[Any, Any]) -> list[dict]:
        questions = [list(q) for q in inputs[Perturbations(self.n)]]
        responses = [[t for row in example for t in row] for example in inputs[PerturbationResponses(self.n, self.r)]]
        entail = [p[..., 0].contiguous() for p in score_distinct_pairs(questions + responses,
                                                          lambda pairs: inputs["encoders"].nli(self.model, pairs))]
        return [{"questions": q, "responses": y} for q, y in zip(entail[: len(questions)], entail[len(questions):])]
