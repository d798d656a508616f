"""Deep ensembles: the mutual information or total entropy over M independently trained members."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from entropy_bench.methods.registry import UNCERTAINTY
from entropy_bench.methods.uncertainty.classifier import SampledPredictiveMeasure


@UNCERTAINTY.register(
    "ensemble_mi",
    paper="Lakshminarayanan, Pritzel & Blundell (2017), Simple and Scalable Predictive Uncertainty Estimation "
          "using Deep Ensembles; the mutual-information decomposition as in Depeweg et al. (2018) and "
          "Malinin & Gales (2018)",
    url="https://arxiv.org/abs/1612.01474",
)
@dataclasses.dataclass(frozen=True)
class EnsembleMI(SampledPredictiveMeasure):
    """Over the members' ``p_m = softmax(z_m)`` of ``member_logits`` [M, N, K]: ``quantity``
    ``mutual_information`` — ``H[p̄] − (1/M) Σ_m H[p_m]``, the members' disagreement (knowledge
    uncertainty) — or ``total_entropy`` — ``H[p̄]``; ``p̄ = (1/M) Σ_m p_m`` is the ensemble's
    predictive distribution (the paper's uniform mixture)."""

    requires: ClassVar[frozenset[str]] = frozenset({"member_logits"})
    stacked_logits: ClassVar[str] = "member_logits"
