"""MC dropout: the mutual information (BALD) or total entropy over T stochastic forward passes."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.classifier import SampledPredictiveMeasure


@UNCERTAINTY.register(
    "mc_dropout_mi",
    paper="Gal & Ghahramani (2016), Dropout as a Bayesian Approximation: Representing Model Uncertainty "
          "in Deep Learning; mutual information (BALD) as in Gal, Islam & Ghahramani (2017)",
    url="https://arxiv.org/abs/1506.02142",
)
@dataclasses.dataclass(frozen=True)
class MCDropoutMI(SampledPredictiveMeasure):
    """Over the T dropout passes ``p_t = softmax(z_t)`` of ``mc_logits`` [T, N, K], samples of the
    approximate posterior: ``quantity`` ``mutual_information`` — ``H[p̄] − (1/T) Σ_t H[p_t]``, the
    epistemic part — or ``total_entropy`` — ``H[p̄]``; ``p̄ = (1/T) Σ_t p_t`` is the predictive
    distribution (the paper's MC-dropout predictive)."""

    requires: ClassVar[frozenset[str]] = frozenset({"mc_logits"})
    stacked_logits: ClassVar[str] = "mc_logits"
