"""Pairwise similarity matrices over each example's samples."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch

from entropy_bench.calculators.distinct_pairs import score_distinct_pairs
from entropy_bench.calculators.embeddings import Embeddings
from entropy_bench.calculators.nli import NLIProbs
from entropy_bench.methods.registry import require
from entropy_bench.models.encoders import DEFAULT_CROSS_ENCODER, DEFAULT_EMBEDDING_MODEL, DEFAULT_NLI_MODEL
from entropy_bench.stats import STATISTICS, StatCalculator

LEXICAL = ("jaccard", "rouge_l")
MODEL_DEFAULTS = {"cosine": DEFAULT_EMBEDDING_MODEL, "nli_entail": DEFAULT_NLI_MODEL, "nli_contra": DEFAULT_NLI_MODEL,
                  "cross_encoder": DEFAULT_CROSS_ENCODER}
KINDS = LEXICAL + tuple(MODEL_DEFAULTS)


@STATISTICS.register(
    "similarity",
    paper="Lin, Trivedi & Sun (2024), Generating with Confidence (the similarity graphs of the spectral measures)",
    url="https://arxiv.org/abs/2305.19187",
)
@dataclasses.dataclass(frozen=True)
class Similarity(StatCalculator):
    """Per example, a float64 tensor [n, n] of similarities between its samples s_1 … s_n.

    - ``jaccard``: |w(s_i) ∩ w(s_j)| / |w(s_i) ∪ w(s_j)| over the sets of lower-cased
      whitespace-separated words (0 when both are empty), 1 on the diagonal — LM-Polygraph's
      ``Jaccard_score``;
    - ``rouge_l``: ROUGE-L F1 of ``rouge-score`` with its stemmer (LM-Polygraph's
      ``LexicalSimilarity(rougeL)``), 1 on the diagonal;
    - ``cosine``: cosine of the sentence embeddings of ``model``;
    - ``nli_entail``: P(entailment | premise s_i, hypothesis s_j) of the NLI ``model``;
    - ``nli_contra``: 1 − P(contradiction | s_i, s_j);
    - ``cross_encoder``: the score of the cross-encoder ``model`` reading (s_i, s_j) together
      (LM-Polygraph's ``CrossEncoderSimilarityMatrixCalculator``: every ordered pair of distinct
      texts, :func:`score_distinct_pairs`, the diagonal included).

    The NLI and cross-encoder kinds are not symmetric; measures that need a symmetric graph symmetrise it.
    ``model`` is empty for the lexical kinds and defaults to the kind's model otherwise.
    """

    kind: str = "jaccard"
    model: str = ""

    def __post_init__(self):
        require(self.kind in KINDS, self.name, "kind", f"must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind in LEXICAL:
            require(not self.model, self.name, "model", f"a {self.kind} similarity takes no model, got {self.model!r}")
        elif not self.model:
            object.__setattr__(self, "model", MODEL_DEFAULTS[self.kind])

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        if self.kind == "cosine":
            return frozenset({Embeddings(self.model)})
        if self.kind in ("nli_entail", "nli_contra"):
            return frozenset({NLIProbs(self.model)})
        if self.kind == "cross_encoder":
            return frozenset({"samples", "encoders"})
        return frozenset({"samples"})

    def compute(self, inputs: Mapping[Any, Any]) -> list:
        if self.kind == "cosine":
            return [_cosine(e) for e in inputs[Embeddings(self.model)]]
        if self.kind == "nli_entail":
            return [p[..., 0].double() for p in inputs[NLIProbs(self.model)]]
        if self.kind == "nli_contra":
            return [1 - p[..., 2].double() for p in inputs[NLIProbs(self.model)]]
        if self.kind == "cross_encoder":
            rows = [[g.text for g in row] for row in inputs["samples"]]
            return score_distinct_pairs(rows, lambda pairs: inputs["encoders"].cross_encode(self.model, pairs))
        pair = jaccard if self.kind == "jaccard" else _rouge_l()
        return [_matrix([g.text for g in row], pair) for row in inputs["samples"]]


def jaccard(a: str, b: str) -> float:
    """Jaccard index of the lower-cased word sets of ``a`` and ``b``; 0 when both are empty."""
    x, y = set(a.lower().split()), set(b.lower().split())
    union = len(x | y)
    return len(x & y) / union if union else 0.0


def _rouge_l():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return lambda a, b: scorer.score(a, b)["rougeL"].fmeasure


def _matrix(texts: list[str], pair) -> torch.Tensor:
    """The symmetric [n, n] matrix of ``pair`` over ``texts``, 1 on the diagonal."""
    n = len(texts)
    out = torch.eye(n, dtype=torch.float64)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = pair(texts[i], texts[j])
    return out


def _cosine(embeddings: torch.Tensor) -> torch.Tensor:
    unit = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    return unit @ unit.T
