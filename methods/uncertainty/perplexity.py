"""Perplexity of the generated answer (length-normalised sequence likelihood)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


@UNCERTAINTY.register(
    "perplexity",
    paper="Fomicheva et al. (2020), Unsupervised Quality Estimation for Neural Machine Translation",
    url="https://arxiv.org/abs/2005.10608",
)
@dataclasses.dataclass(frozen=True)
class Perplexity(UncertaintyMeasure):
    """Log-perplexity ``(1/T) Σ_t −log p(y_t | y_<t, x)``: the mean token NLL of the answer.

    The same score as LM-Polygraph's ``Perplexity`` estimator (it reports −mean log-likelihood,
    not its exponential; the ranking, hence the AUROC, is the same either way). Unlike
    ``max_sequence_prob`` it does not grow with the answer's length. Reads the shared
    statistic ``token_nll``, which ``max_sequence_prob`` reads too.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"token_nll"})

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return np.array([np.mean(nll) for nll in stats["token_nll"]], dtype=float)
