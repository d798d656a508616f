"""Responses to perturbed questions: r draws of the cell's sampler for each of an example's questions."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from entropy_bench.calculators.perturbations import Perturbations
from entropy_bench.methods.registry import require
from entropy_bench.stats import STATISTICS, StatCalculator


@STATISTICS.register(
    "perturbation_responses",
    paper="Song et al. (2025), Inv-Entropy (r responses to each perturbed input)",
    url="https://arxiv.org/abs/2506.09684",
)
@dataclasses.dataclass(frozen=True)
class PerturbationResponses(StatCalculator):
    """Per example, ``n + 1`` lists of ``r`` response texts: the responses to each question of
    :class:`Perturbations` ``(n)`` (its own first), each prompted as the task prompts the
    example (the cell model's prompt of ``task.with_question(example, question)``).

    Drawn by the ``generator`` input with the cell's sample decoder (``sample_decoder``, by
    default the cell's own: how the decoder changes the responses is what a sweep compares),
    the task's ``max_new_tokens`` and stop strings. The responses to the example's own question
    are its samples 1 … r (the same cache entries: a cell with ``n_samples ≥ r`` draws them
    once); those to paraphrase j are samples 1 … r of the row ``<example id>/paraphrase<j>``.
    The Inv-Entropy code draws 5 responses at temperature 0.7 (``respond.py``).
    """

    n: int = 9
    r: int = 5

    def __post_init__(self):
        require(self.n >= 1, self.name, "n", f"must be at least 1 paraphrase, got {self.n}")
        require(self.r >= 1, self.name, "r", f"must be at least 1 response per question, got {self.r}")

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({Perturbations(self.n), "examples", "task", "generator"})

    def compute(self, inputs: Mapping[Any, Any]) -> list[list[list[str]]]:
        task, examples = inputs["task"], inputs["examples"]
        prompts, rows = [], []
        for example, questions in zip(examples, inputs[Perturbations(self.n)]):
            for j, question in enumerate(questions):
                prompts.append(inputs["generator"].prompt(task.with_question(example, question)))
                rows.append(example["id"] if j == 0 else f"{example['id']}/paraphrase{j}")
        drawn = inputs["generator"].draw(prompts, rows, self.r)
        per_example = self.n + 1
        return [[[g.text for g in row] for row in drawn[i : i + per_example]]
                for i in range(0, len(drawn), per_example)]
