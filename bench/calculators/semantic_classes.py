"""Semantic equivalence classes of each example's samples."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Mapping

import torch

from entropy_bench.calculators.embeddings import Embeddings
from entropy_bench.calculators.nli import NLIProbs
from entropy_bench.methods.registry import require
from entropy_bench.models.encoders import DEFAULT_EMBEDDING_MODEL, DEFAULT_NLI_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator

EQUIVALENCES = ("math_answer", "nli", "embedding")
MODEL_DEFAULTS = {"nli": DEFAULT_NLI_MODEL, "embedding": DEFAULT_EMBEDDING_MODEL}


@STATISTICS.register(
    "semantic_classes",
    paper="Kuhn, Gal & Farquhar (2023), Semantic Uncertainty; Farquhar et al. (2024), Nature (non-strict entailment)",
    url="https://arxiv.org/abs/2302.09664",
)
@dataclasses.dataclass(frozen=True)
class SemanticClasses(StatCalculator):
    """Per example, the class label (0, 1, … in order of first appearance) of each sample.

    Samples are clustered greedily, as Kuhn et al. and LM-Polygraph do: sample i joins the first
    class whose first member m is equivalent to it, else opens a new class. Equivalence:

    - ``math_answer``: the task's answers are equal (``task.answer``: extracted and normalised as
      its exact match compares them); a sample with no answer is equivalent to nothing, not even
      another one without;
    - ``nli``: bidirectional entailment under the NLI ``model``. ``strict``: the argmax label is
      entailment both ways (m → i and i → m); non-strict (Farquhar et al. 2024): neither
      direction's argmax is contradiction, and they are not both neutral;
    - ``embedding``: cosine of the ``model``'s sentence embeddings ≥ ``threshold``.

    ``model`` is empty for ``math_answer``; ``strict`` applies to ``nli`` and ``threshold`` to
    ``embedding`` only (their defaults are kept, and recorded, for the others).
    """

    version: ClassVar[str] = "2"  # 2: texts without an answer (task.no_answer) are classes of their own
    equivalence: str = "math_answer"
    model: str = ""
    strict: bool = True
    threshold: float = 0.9

    def __post_init__(self):
        require(self.equivalence in EQUIVALENCES, self.name, "equivalence",
                f"must be one of {', '.join(EQUIVALENCES)}, got {self.equivalence!r}")
        require(-1 <= self.threshold <= 1, self.name, "threshold", f"must be a cosine in [-1, 1], got {self.threshold}")
        if self.equivalence == "math_answer":
            require(not self.model, self.name, "model", f"math_answer takes no model, got {self.model!r}")
        elif not self.model:
            object.__setattr__(self, "model", MODEL_DEFAULTS[self.equivalence])

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        if self.equivalence == "nli":
            return frozenset({NLIProbs(self.model)})
        if self.equivalence == "embedding":
            return frozenset({Embeddings(self.model)})
        return frozenset({"samples", "task"})

    def compute(self, inputs: Mapping[Any, Any]) -> list[list[int]]:
        if self.equivalence == "nli":
            return [greedy_classes(len(p), self._entails(p)) for p in inputs[NLIProbs(self.model)]]
        if self.equivalence == "embedding":
            return [greedy_classes(len(e), self._close(e)) for e in inputs[Embeddings(self.model)]]
        task = inputs["task"]
        answers = [[task.answer(g.text) for g in row] for row in inputs["samples"]]
        return [greedy_classes(len(a), lambda m, i, a=a: a[m] is not None and a[m] == a[i]) for a in answers]

    def _entails(self, probs: torch.Tensor) -> Callable[[int, int], bool]:
        label = probs.argmax(dim=-1)  # 0 entailment, 1 neutral, 2 contradiction
        if self.strict:
            return lambda m, i: bool(label[m, i] == 0 and label[i, m] == 0)
        return lambda m, i: bool(label[m, i] != 2 and label[i, m] != 2 and not (label[m, i] == 1 and label[i, m] == 1))

    def _close(self, embeddings: torch.Tensor) -> Callable[[int, int], bool]:
        unit = torch.nn.functional.normalize(embeddings.double(), dim=-1)
        return lambda m, i: bool(unit[m] @ unit[i] >= self.threshold)


def greedy_classes(n: int, equivalent: Callable[[int, int], bool]) -> list[int]:
    """Labels of n items: item i joins the first class whose first member m has
    ``equivalent(m, i)``, else opens the next class."""
    firsts: list[int] = []
    labels = []
    for i in range(n):
        label = next((c for c, m in enumerate(firsts) if equivalent(m, i)), None)
        if label is None:
            label = len(firsts)
            firsts.append(i)
        labels.append(label)
    return labels
