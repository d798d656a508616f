"""Inv-Entropy: entropy of the inverse model p(input | response) of a dual random walk."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Mapping

import numpy as np
from scipy.special import entr

from entropy_bench.calculators.perturbation_nli import PerturbationNLI
from entropy_bench.calculators.question_embeddings import QuestionEmbeddings
from entropy_bench.calculators.response_embeddings import ResponseEmbeddings
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples, symmetrise
from entropy_bench.methods.uncertainty.semantic_volume import unit_rows
from entropy_bench.models.encoders import DEFAULT_EMBEDDING_MODEL, DEFAULT_NLI_MODEL

SIMILARITIES = ("shifted_cos", "abs_cos", "nli_entail")


def cosine_similarity(embeddings: np.ndarray, similarity: str) -> np.ndarray:
    """``s = (1 + cos)/2`` (``shifted_cos``, the paper's) or ``s = |cos|`` (``abs_cos``, the
    released code's) between m embeddings [m, d]: [m, m]."""
    unit = unit_rows(embeddings)
    cos = unit @ unit.T
    return np.abs(cos) if similarity == "abs_cos" else (1.0 + cos) / 2.0


def transition_matrix(s: np.ndarray) -> np.ndarray:
    """Row-normalised similarities ``P_ij = s_ij / Σ_k s_ik``. A row without similarity
    (``abs_cos`` of a zero vector, an NLI row of zeros) is NaN."""
    total = s.sum(axis=1, keepdims=True)
    return s / np.where(total > 0, total, np.nan)


def inv_entropy_once(p_x: np.ndarray, p_y: np.ndarray) -> float:
    """``−Σ_i p_i log p_i`` with ``p_i = (P_y P_x)[i, i] = Σ_k P_y[i, k] P_x[k, i]``: a step of the
    response walk from y_i to y_k, across to its input x_k, a step of the input walk to x_i —
    the inverse model's probability of the input that produced y_i. Not normalised (the p_i do
    not sum to 1), natural log, ``0 log 0 = 0``."""
    p = np.einsum("ik,ki->i", p_y, p_x)
    return float(np.sum(entr(p)))


def response_choices(n: int, r: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """``min(n_bootstrap, rⁿ)`` distinct choices [·, n] of one response index per input: all rⁿ
    when there are no more than ``n_bootstrap`` (no randomness then), else distinct draws of
    ``rng.integers(r, size=n)`` in the order drawn."""
    if r**n <= n_bootstrap:
        return np.array(list(itertools.product(range(r), repeat=n)), dtype=int).reshape(-1, n)
    drawn: dict[tuple[int, ...], None] = {}
    while len(drawn) < n_bootstrap:
        drawn.setdefault(tuple(int(i) for i in rng.integers(r, size=n)), None)
    return np.array(list(drawn), dtype=int)


def inv_entropy_score(input_embeddings: np.ndarray, response_embeddings: np.ndarray, n_bootstrap: int,
                      rng: np.random.Generator, similarity: str = "shifted_cos") -> float:
    """Inv-Entropy (Song et al. 2025, Algorithm 1) of n perturbed inputs [n, d] and r responses
    to each [n, r, d], with the :func:`cosine_similarity` ``similarity``: :func:`inv_entropy_of`
    the inputs' similarities and all the responses'."""
    if input_embeddings.ndim != 2 or response_embeddings.ndim != 3 or len(input_embeddings) != len(response_embeddings):
        raise ValueError(f"inv_entropy: inputs [n, d] and responses [n, r, d] expected, got "
                         f"{input_embeddings.shape} and {response_embeddings.shape}")
    n, r, d = response_embeddings.shape
    return inv_entropy_of(cosine_similarity(input_embeddings, similarity),
                          cosine_similarity(response_embeddings.reshape(n * r, d), similarity), r, n_bootstrap, rng)


def inv_entropy_of(s_x: np.ndarray, s_y: np.ndarray, r: int, n_bootstrap: int, rng: np.random.Generator) -> float:
    """Inv-Entropy of the similarities of n inputs ``s_x`` [n, n] and of their n·r responses
    ``s_y`` [n r, n r] (response k to input i at ``i·r + k``).

    ``P_x`` = :func:`transition_matrix` of ``s_x``. For each of the :func:`response_choices`
    (one response per input), ``P_y`` = the transition matrix of the chosen responses'
    similarities and the score :func:`inv_entropy_once`; the mean over the choices.
    """
    n = len(s_x)
    if s_y.shape != (n * r, n * r):
        raise ValueError(f"inv_entropy: response similarities [{n * r}, {n * r}] expected, got {s_y.shape}")
    p_x = transition_matrix(s_x)
    picks = np.arange(n) * r + response_choices(n, r, n_bootstrap, rng)
    return float(np.mean([inv_entropy_once(p_x, transition_matrix(s_y[np.ix_(c, c)])) for c in picks]))


@UNCERTAINTY.register(
    "inv_entropy",
    paper="Song, Ji, Shi, Lai & Al Kontar (2025), Inv-Entropy: A Fully Probabilistic Framework for "
          "Uncertainty Quantification in Language Models (NeurIPS 2025)",
    url="https://arxiv.org/abs/2506.09684",
)
@dataclasses.dataclass(frozen=True)
class InvEntropy(UncertaintyMeasure):
    """Entropy of the inverse model p(input | response) over perturbed inputs.

    :func:`inv_entropy_score`: the more the responses fail to tell their inputs apart, the higher.

    The perturbation steps are statistics: the question and ``n_perturbations`` paraphrases by
    the cell's model (``Perturbations``; the released package: 1 + 9), ``n_responses`` responses
    to each by the cell's sampler (``PerturbationResponses``; the package: 5), embedded by the
    sentence-transformers ``model`` (``QuestionEmbeddings`` [n + 1, d], ``ResponseEmbeddings``
    [n + 1, r, d]). Needs a task with a question to rewrite (``question_field``). GAAP, the
    paper's genetic-algorithm perturbation, is not implemented: it draws its mutations from
    WordNet, which no offline package provides here.

    Follows the released code (``evaluate.py``, ``process_csv``, lines 211-275, and the
    ``inventropy`` package's ``compute_inv_entropy_with_sampling``): ``px = row_normalize(simX)``,
    ``py = row_normalize(simY)``, ``−Σ diag(py @ px) log diag(py @ px)`` per choice of one answer
    per question, distinct choices, averaged; ``n_bootstrap`` = 10 as the package. Departures:
    the similarity defaults to the paper's ``(1 + cos)/2`` (the code's ``|cos|`` is
    ``similarity=abs_cos``); the draws come from one ``numpy.random.Generator`` seeded with
    ``seed`` per example (the code seeds numpy but draws with Python's ``random``, unseeded), so
    a score depends on its example and the seed only; and with ``n_bootstrap ≥ rⁿ`` every choice
    is used once (the code loops forever there).

    ``similarity=nli_entail`` plugs in another similarity, as the framework allows: ``s_ij`` =
    the symmetrised P(entailment) of the NLI ``model`` (default
    ``microsoft/deberta-large-mnli``) between the questions and between the responses
    (:class:`PerturbationNLI`), ``(E + Eᵀ)/2``.
    """

    similarity: str = "shifted_cos"
    n_bootstrap: int = 10
    seed: int = 0
    n_perturbations: int = 9
    n_responses: int = 5
    model: str = ""  # the sentence-embedding model (cosines) or the NLI model (nli_entail)

    def __post_init__(self):
        require(self.similarity in SIMILARITIES, self.name, "similarity",
                f"must be one of {', '.join(SIMILARITIES)}, got {self.similarity!r}")
        require(self.n_bootstrap >= 1, self.name, "n_bootstrap", f"must be at least 1, got {self.n_bootstrap}")
        require(self.n_perturbations >= 1, self.name, "n_perturbations",
                f"must be at least 1 paraphrase, got {self.n_perturbations}")
        require(self.n_responses >= 1, self.name, "n_responses", f"must be at least 1, got {self.n_responses}")
        if not self.model:
            object.__setattr__(self, "model", DEFAULT_NLI_MODEL if self.similarity == "nli_entail" else DEFAULT_EMBEDDING_MODEL)

    @property
    def _inputs(self) -> QuestionEmbeddings:
        return QuestionEmbeddings(self.model, self.n_perturbations)

    @property
    def _responses(self) -> ResponseEmbeddings:
        return ResponseEmbeddings(self.model, self.n_perturbations, self.n_responses)

    @property
    def _nli(self) -> PerturbationNLI:
        return PerturbationNLI(self.model, self.n_perturbations, self.n_responses)

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({self._nli} if self.similarity == "nli_entail" else {self._inputs, self._responses})

    def score_example(self, pair: tuple[Any, Any]) -> float:
        x, y = (np.asarray(e, dtype=float) for e in pair)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return float("nan")
        rng = np.random.default_rng(self.seed)
        if self.similarity == "nli_entail":
            return inv_entropy_of(symmetrise(x), symmetrise(y), self.n_responses, self.n_bootstrap, rng)
        return inv_entropy_score(x, y, self.n_bootstrap, rng, self.similarity)

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        if self.similarity == "nli_entail":
            pairs = [(e["questions"], e["responses"]) for e in stats[self._nli]]
        else:
            pairs = list(zip(stats[self._inputs], stats[self._responses]))
        return score_examples(pairs, self.score_example, self.id,
                              "a non-finite similarity, or a question or response similar to nothing")
