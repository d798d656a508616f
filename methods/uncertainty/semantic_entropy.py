"""Semantic entropy: the entropy of the distribution over the samples' meaning classes."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import logsumexp

from entropy_bench.calculators.semantic_classes import EQUIVALENCES, MODEL_DEFAULTS, SemanticClasses
from entropy_bench.methods.registry import UNCERTAINTY, require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.methods.uncertainty.graph import score_examples

PROBABILITIES = ("sum", "frequency")
ESTIMATES = ("mean", "direct")


def class_log_probs(labels: Sequence[int], log_likelihoods: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(log p_c for each class, each sample's class index)``.

    ``sum``: ``p_c = Σ_{s ∈ c} P(s) / Σ_s P(s)`` over the n samples, ``P(s) = exp(log_likelihoods[s])``,
    in log space (log-sum-exp); ``log_likelihoods=None``: the frequency ``p_c = |c| / n``. Either
    way the class probabilities sum to 1.
    """
    classes, index = np.unique(np.asarray(labels, dtype=int), return_inverse=True)
    if log_likelihoods is None:
        return np.log(np.bincount(index, minlength=len(classes)) / len(index)), index
    ll = np.asarray(log_likelihoods, dtype=float)
    per_class = np.array([logsumexp(ll[index == c]) for c in range(len(classes))])
    return per_class - logsumexp(ll), index


def semantic_entropy_score(labels: Sequence[int], log_likelihoods: Sequence[float] | None, estimate: str) -> float:
    """Semantic entropy of n samples with meaning classes ``labels`` (Kuhn et al. 2023).

    With ``p_c`` from :func:`class_log_probs` and ``c(i)`` the class of sample i:

    - ``direct``: ``−Σ_c p_c log p_c``, the entropy of the class distribution (the "direct"
      estimator of Aichberger et al. 2024 and Farquhar et al. 2024);
    - ``mean``: ``−(1/n) Σ_i log p_{c(i)}``, the Monte-Carlo estimate over the samples of
      Kuhn et al. (2023) and LM-Polygraph's default.

    NaN (undefined) without samples or with a non-finite log-likelihood.
    """
    if len(labels) == 0 or (log_likelihoods is not None and not np.isfinite(log_likelihoods).all()):
        return float("nan")
    log_p, index = class_log_probs(labels, log_likelihoods)
    if estimate == "direct":
        return float(-np.sum(np.exp(log_p) * log_p))
    return float(-np.mean(log_p[index]))


def semantic_classes(owner: str, equivalence: str, model: str, strict: bool) -> SemanticClasses:
    """The ``SemanticClasses`` requirement of ``owner``'s fields, each checked under its name:
    ``model`` only for the model-based equivalences (their default when empty), ``strict``
    only for ``nli`` (its default, True, for the others, so that one statistic has one id)."""
    require(equivalence in EQUIVALENCES, owner, "equivalence",
            f"must be one of {', '.join(EQUIVALENCES)}, got {equivalence!r}")
    if equivalence == "math_answer":
        require(not model, owner, "model", f"math_answer takes no model, got {model!r}")
    require(strict or equivalence == "nli", owner, "strict", f"applies to equivalence=nli only, not {equivalence}")
    return SemanticClasses(equivalence, model or MODEL_DEFAULTS.get(equivalence, ""), strict)


@dataclasses.dataclass(frozen=True)
class ClassMeasure(UncertaintyMeasure):
    """A measure of each example's semantic classes: ``equivalence``, ``model`` and ``strict``
    select the ``SemanticClasses`` statistic (:func:`semantic_classes`; ``model`` is recorded
    with its default)."""

    equivalence: str = "math_answer"
    strict: bool = True
    model: str = ""

    def __post_init__(self):
        object.__setattr__(self, "model", self.classes.model)

    @property
    def classes(self) -> SemanticClasses:
        return semantic_classes(self.name, self.equivalence, self.model, self.strict)

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({self.classes})


@UNCERTAINTY.register(
    "semantic_entropy",
    paper="Kuhn, Gal & Farquhar (2023), Semantic Uncertainty: Linguistic Invariances for Uncertainty "
          "Estimation in Natural Language Generation",
    url="https://arxiv.org/abs/2302.09664",
)
@dataclasses.dataclass(frozen=True)
class SemanticEntropy(ClassMeasure):
    """Entropy over the meaning classes of an example's samples (:func:`semantic_entropy_score`).

    ``probability``: ``sum`` of the samples' sequence likelihoods ``P(s) = exp(Σ_t log p(s_t))``
    (length-unnormalised, LM-Polygraph's ``sample_log_probs``) per class, or ``frequency`` |c|/n;
    ``estimate``: ``mean`` or ``direct``. ``equivalence``, ``model``, ``strict`` select the
    ``SemanticClasses`` statistic (``model`` is recorded with its default).

    Compared with LM-Polygraph's ``SemanticEntropy`` (estimators/semantic_entropy.py):

    - every sample counts, duplicates included, as LM-Polygraph's default
      ``use_unique_responses=False`` (lines 92-106: ``logaddexp.reduce`` over the class's
      members);
    - the class probabilities are normalised over the classes (``Σ_c p_c = 1``); LM-Polygraph
      uses the raw sum ``Σ_{s∈c} P(s)`` (line 104), which is not a distribution and exceeds 1
      when a likely answer is sampled twice (Farquhar et al. 2024 normalise, as here);
    - ``direct`` sums over classes; LM-Polygraph's sums ``p_c log p_c`` over samples (lines
      127-133), counting each class once per member — the entropy formula of its docstring's
      SDLG reference is over classes. ``mean`` is the same formula as LM-Polygraph's (line 119).
    """

    probability: str = "sum"
    estimate: str = "mean"

    def __post_init__(self):
        require(self.probability in PROBABILITIES, self.name, "probability",
                f"must be one of {', '.join(PROBABILITIES)}, got {self.probability!r}")
        require(self.estimate in ESTIMATES, self.name, "estimate",
                f"must be one of {', '.join(ESTIMATES)}, got {self.estimate!r}")
        super().__post_init__()

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({self.classes, "samples"} if self.probability == "sum" else {self.classes})

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        labels = stats[self.classes]
        if self.probability == "sum":
            likelihoods = [[sum(g.logprob) for g in row] for row in stats["samples"]]
        else:
            likelihoods = [None] * len(labels)
        return score_examples(zip(labels, likelihoods), lambda e: semantic_entropy_score(*e, self.estimate),
                              self.id, "no samples, or a sample with a non-finite log-probability")
