"""SAR: sentence-level shifting of attention to relevance over the samples, on top of tokenSAR."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.calculators.similarity import Similarity
from entropy_bench.calculators.token_similarity import TokenSimilarity
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples
from entropy_bench.methods.uncertainty.token_sar import check_similarity, token_sar


def sar_score(token_sars: Any, similarity: Any, temperature: float) -> float:
    """``SAR = (1/n) Σ_j −log( p_j + (1/t) Σ_{k≠j} s_jk p_k )`` with ``p_j = exp(−tokenSAR(s_j))``
    (Duan et al. 2024, eq. 8-9, over the n samples: each sample's probability plus the
    probability of the samples that say the same thing, weighted by their similarity s_jk;
    ``t`` the temperature). A negative similarity (a cosine) counts as 0. NaN when a tokenSAR or
    a similarity is not finite."""
    p = np.exp(-np.asarray(token_sars, dtype=float))
    s = np.clip(np.asarray(similarity, dtype=float), 0.0, None)
    if len(p) == 0 or not (np.isfinite(p).all() and np.isfinite(s).all()):
        return float("nan")
    others = s * (1.0 - np.eye(len(p)))
    return float(np.mean(-np.log(p + others @ p / temperature)))


@UNCERTAINTY.register(
    "sar",
    paper="Duan et al. (2024), Shifting Attention to Relevance: Towards the Predictive Uncertainty "
          "Quantification of Free-Form Large Language Models (SAR: tokenSAR + sentSAR)",
    url="https://arxiv.org/abs/2307.01379",
)
@dataclasses.dataclass(frozen=True)
class SAR(UncertaintyMeasure):
    """:func:`sar_score` of each example's samples: their tokenSARs (``token_sar`` over
    ``token_similarity`` of the samples) and their pairwise ``similarity`` (same kind and model).

    ``temperature`` t = 0.001, LM-Polygraph's ``SAR.t`` (the paper's sentSAR temperature): at
    that scale the similar samples dominate their own probability. LM-Polygraph's ``SAR`` is
    the same formula over its cross-encoder matrices (row j, sample k: ``s_jk``, not symmetrised).
    """

    similarity: str = "cross_encoder"
    model: str = ""
    temperature: float = 0.001

    def __post_init__(self):
        object.__setattr__(self, "model", check_similarity(self.name, self.similarity, self.model))
        require(self.temperature > 0, self.name, "temperature", f"must be positive, got {self.temperature}")

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({"samples", self._token_similarity, self._similarity})

    @property
    def _token_similarity(self) -> TokenSimilarity:
        return TokenSimilarity(self.similarity, self.model, source="samples")

    @property
    def _similarity(self) -> Similarity:
        return Similarity(self.similarity, self.model)

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        rows = zip(stats["samples"], stats[self._token_similarity], stats[self._similarity])
        values = [([token_sar(g.logprob, sim) for g, sim in zip(samples, sims)], matrix)
                  for samples, sims, matrix in rows]
        return score_examples(values, lambda v: sar_score(v[0], v[1], self.temperature), self.id,
                              "an empty sample or a non-finite log-prob")
