"""Pointwise mutual information between the question and the answer, per token, negated."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.calculators.answer_lm_logprobs import AnswerLMLogprobs
from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples


def mean_pmi_uncertainty(logprob: Any, lm_logprob: Any) -> float:
    """``−(1/m) Σ_t PMI_t`` with ``PMI_t = log p(y_t | x, y_<t) − log p(y_t | y_<t)`` for t ≥ 1 and
    ``PMI_0 = log p(y_0 | x)`` (the answer's first token has no context without the question:
    LM-Polygraph's ``MeanPointwiseMutualInformation`` convention). NaN when a log-prob is not
    finite."""
    lp = np.asarray(logprob, dtype=float)
    lm = np.asarray(lm_logprob, dtype=float)
    if len(lp) == 0 or len(lp) != len(lm):
        return float("nan")
    pmi = lp - np.concatenate([[0.0], lm[1:]])
    return float(-pmi.mean()) if np.isfinite(pmi).all() else float("nan")


@UNCERTAINTY.register(
    "pointwise_mutual_information",
    paper="van der Poel, Cotterell & Meister (2022), Mutual Information Alleviates Hallucinations in "
          "Abstractive Summarization; as a sequence measure in LM-Polygraph (Fadeeva et al. 2023)",
    url="https://arxiv.org/abs/2210.13210",
)
@dataclasses.dataclass(frozen=True)
class PointwiseMutualInformation(UncertaintyMeasure):
    """Mean token PMI between the question and the answer, negated (:func:`mean_pmi_uncertainty`):
    an answer the question makes no likelier than the model would write unprompted carries
    little information from it → high uncertainty.

    Reads the answer's own log-probs (``generations``) and its log-probs without the question
    (``answer_lm_logprobs``: one forward pass of the cell's model over the answer tokens). EOS,
    where it ended the answer, is one of its tokens, as in LM-Polygraph.
    """

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({"generations", AnswerLMLogprobs()})

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        pairs = [(g.logprob, lm) for g, lm in zip(stats["generations"], stats[AnswerLMLogprobs()])]
        return score_examples(pairs, lambda p: mean_pmi_uncertainty(*p), self.id, "a non-finite log-prob")
