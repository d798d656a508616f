"""Maximum sequence probability (negative log-likelihood of the generated answer)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


@UNCERTAINTY.register(
    "max_sequence_prob",
    paper="Aichberger et al. (2024), Rethinking Uncertainty Estimation in Natural Language Generation (G-NLL)",
    url="https://arxiv.org/abs/2412.15176",
)
@dataclasses.dataclass(frozen=True)
class MaxSequenceProb(UncertaintyMeasure):
    """Sequence NLL: ``−log P(y | x) = −Σ_t log p(y_t | y_<t, x)`` under the model's own distribution.

    Low probability → high uncertainty. On a greedy cell this is G-NLL (the NLL of the
    greedy sequence, approximating the most likely output). Reads the shared statistic
    ``token_nll`` (per-token NLLs).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"token_nll"})

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return np.array([sum(nll) for nll in stats["token_nll"]], dtype=float)
