"""G-NLL: the negative log-likelihood of the greedy answer."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


@UNCERTAINTY.register(
    "g_nll",
    paper="Aichberger et al. (2024), Rethinking Uncertainty Estimation in Natural Language Generation (G-NLL)",
    url="https://arxiv.org/abs/2412.15176",
)
@dataclasses.dataclass(frozen=True)
class GNLL(UncertaintyMeasure):
    """``−log P(ŷ | x)`` of the greedy sequence ŷ: the NLL of (an approximation of) the most
    likely output, which the paper derives from proper scoring rules as the uncertainty of
    the prompt. It reads the track's greedy answers (input ``greedy``), so on any cell it scores
    the prompt by its greedy decode, whatever the cell's decoder; on a greedy cell it equals
    ``max_sequence_prob``, and the greedy answers are that cell's own (one cache entry).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"greedy"})

    def __call__(self, stats: Mapping[str, Any]) -> np.ndarray:
        return np.array([-float(np.sum(g.logprob)) for g in stats["greedy"]])
