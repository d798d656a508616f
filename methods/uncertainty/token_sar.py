"""Token SAR: the answer's NLL with each token weighted by its relevance to the meaning."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from entropy_bench.calculators.token_similarity import KINDS, MODEL_DEFAULTS, TokenSimilarity
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples


def token_sar(logprob: Any, similarity: Any) -> float:
    """``tokenSAR(y) = Σ_t −log p(y_t | y_<t, x) · R̃_t`` with relevance ``R_t = 1 − sim_t``
    (negative relevance, a similarity above 1, counts as 0) and ``R̃_t = R_t / Σ_τ R_τ``
    (Duan et al. 2024, eq. 5-6). Where no token is relevant (Σ R = 0: every token special or
    meaningless to the similarity model), the weights are uniform: the mean token NLL.
    NaN for an empty answer or a non-finite log-prob or similarity."""
    lp = np.asarray(logprob, dtype=float)
    sim = np.asarray(similarity, dtype=float)
    if len(lp) == 0 or len(lp) != len(sim) or not (np.isfinite(lp).all() and np.isfinite(sim).all()):
        return float("nan")
    relevance = np.clip(1.0 - sim, 0.0, None)
    total = relevance.sum()
    weights = relevance / total if total > 0 else np.full(len(lp), 1.0 / len(lp))
    return float(-(lp * weights).sum())


def check_similarity(owner: str, kind: str, model: str) -> str:
    """``model`` for a ``TokenSimilarity(kind, model)``, checked as ``owner``'s fields; the kind's default when empty."""
    require(kind in KINDS, owner, "similarity", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    return model or MODEL_DEFAULTS[kind]


@UNCERTAINTY.register(
    "token_sar",
    paper="Duan et al. (2024), Shifting Attention to Relevance: Towards the Predictive Uncertainty "
          "Quantification of Free-Form Large Language Models (tokenSAR)",
    url="https://arxiv.org/abs/2307.01379",
)
@dataclasses.dataclass(frozen=True)
class TokenSAR(UncertaintyMeasure):
    """:func:`token_sar` of the cell's answer: its token NLLs, weighted by how much removing each
    token changes the meaning of question + answer (``token_similarity`` of the answer).
    EOS, where it ended the answer, is a token with relevance 0.

    ``similarity``: ``cross_encoder`` (the paper's and LM-Polygraph's, default
    ``cross-encoder/stsb-roberta-large``) or ``cosine`` of sentence embeddings (offline);
    ``model`` the similarity model. LM-Polygraph's ``TokenSAR`` computes the same sum from its
    ``token_similarity``, whose texts start with the whole prompt rather than the question.
    """

    similarity: str = "cross_encoder"
    model: str = ""

    def __post_init__(self):
        object.__setattr__(self, "model", check_similarity(self.name, self.similarity, self.model))

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({"generations", self._token_similarity})

    @property
    def _token_similarity(self) -> TokenSimilarity:
        return TokenSimilarity(self.similarity, self.model, source="generations")

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        pairs = [(g.logprob, sim) for g, sim in zip(stats["generations"], stats[self._token_similarity])]
        return score_examples(pairs, lambda p: token_sar(*p), self.id, "an empty answer or a non-finite log-prob")
