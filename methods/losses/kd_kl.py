"""Knowledge distillation: T²-scaled KL divergence from the teacher's softened distribution."""

from __future__ import annotations

import dataclasses

import torch

from entropy_bench.methods.losses.base import REDUCTIONS, check_logits, check_same_shape, reduce
from entropy_bench.methods.registry import LOSSES, Method, require, require_choice


@LOSSES.register(
    "kd_kl",
    paper="Hinton, Vinyals & Dean (2015), Distilling the Knowledge in a Neural Network",
    url="https://arxiv.org/abs/1503.02531",
)
@dataclasses.dataclass(frozen=True)
class KDKL(Method):
    """KL(teacher ‖ student) of the temperature-softened distributions, times T².

    ``loss(logits[..., C], teacher_logits[..., C])``; with p^T = softmax(teacher / T) and
    q^T = softmax(student / T), T = ``temperature``:

        ℓ_i = T² Σ_k p^T_ik (log p^T_ik − log q^T_ik)

    The T² keeps the gradient's size independent of T (the soft targets' gradients scale as
    1/T²). ``"mean"`` averages over rows, which is ``T² · F.kl_div(log q^T, log p^T,
    reduction="batchmean", log_target=True)``. The training objective adds this to
    ``cross_entropy`` on the hard labels with weights of the caller's choosing. Teacher logits are
    inputs like any other (pass them without gradient); −inf teacher logits give 0 · −inf = NaN.
    """

    temperature: float = 4.0
    reduction: str = "mean"

    def __post_init__(self):
        require(self.temperature > 0, self.name, "temperature", f"must be > 0, got {self.temperature}")
        require_choice(self.reduction, REDUCTIONS, self.name, "reduction")

    def __call__(self, logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        check_logits(self.name, "logits", logits)
        check_same_shape(self.name, "teacher_logits", teacher_logits, logits, "logits")
        log_student = (logits / self.temperature).log_softmax(dim=-1)
        log_teacher = (teacher_logits / self.temperature).log_softmax(dim=-1)
        values = self.temperature**2 * (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1)
        return reduce(values, torch.ones_like(values, dtype=torch.bool), self.reduction)
