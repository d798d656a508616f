"""The frame every loss shares: input checks, ``ignore_index`` and ``reduction``.

**Classification losses** (:class:`ClassificationLoss`) are ``loss(logits[..., C], targets[...])``:
one value ℓ_i per row from the row's logits z_i and its target class y_i, then reduced over the
rows whose target is not ``ignore_index``: ``"mean"`` (Σ ℓ_i / #kept rows; 0/0 = NaN when every
row is ignored, as ``F.cross_entropy``), ``"sum"``, or ``"none"`` (ℓ with the shape of
``targets``, 0 on ignored rows). Losses with a second input take it after these two
(``nkd``'s teacher logits, ``emo``'s cost embeddings).

**Policy losses** (:class:`PolicyLoss`) are ``loss(logprobs, old_logprobs, advantages, mask)``,
one entry per generated token (any common shape, typically [B, T]); ``mask`` is True (or
non-zero) on the tokens that count. They reduce the same way over the tokens in ``mask``
(``"mean"`` is verl's ``token-mean``).

Bad input is refused before any arithmetic with an :class:`InvalidParameterError` naming the
argument: logits that are not floating point or have fewer than 2 classes, targets that are not
integers, do not match the logits' leading shape or lie outside [0, C) (``ignore_index`` aside),
tensors of different shapes, and an empty batch. NaN is not looked for (that would cost a pass
and a sync per call); it propagates: a NaN logit makes its row's ℓ NaN, hence the ``"sum"`` and
``"mean"``, and an ignored row's value stays 0 (its gradient is NaN, as with ``F.cross_entropy``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from entropy_bench.kernels.linear_cross_entropy import REDUCTIONS
from entropy_bench.methods.registry import InvalidParameterError, Method, require, require_choice


def reduce(values: torch.Tensor, keep: torch.Tensor, reduction: str) -> torch.Tensor:
    """``values`` (already 0 where not ``keep``) as they are, summed, or summed / #``keep``."""
    if reduction == "none":
        return values
    total = values.sum()
    return total if reduction == "sum" else total / keep.sum()


def target_log_prob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(z)_y per row: ``logits[..., C]``, ``targets[...]`` → ``[...]``."""
    return logits.log_softmax(dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def check_logits(owner: str, field: str, logits: torch.Tensor) -> None:
    """Refuse ``logits`` that are not a floating tensor ``[..., C]`` with C ≥ 2 and ≥ 1 row."""
    require(isinstance(logits, torch.Tensor) and logits.is_floating_point(), owner, field,
            f"must be a floating-point tensor, got {describe(logits)}")
    require(logits.dim() >= 1 and logits.shape[-1] >= 2, owner, field,
            f"must have shape [..., C] with C >= 2 classes, got {tuple(logits.shape)}")
    require(logits[..., 0].numel() > 0, owner, field, f"is an empty batch: shape {tuple(logits.shape)}")


def check_same_shape(owner: str, field: str, tensor: torch.Tensor, like: torch.Tensor, like_name: str) -> None:
    require(isinstance(tensor, torch.Tensor) and tensor.shape == like.shape, owner, field,
            f"must have the shape of {like_name} {tuple(like.shape)}, got {describe(tensor)}")


def check_targets(owner: str, logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Check ``logits[..., C]`` and ``targets[...]``; the mask of the rows not ignored."""
    check_logits(owner, "logits", logits)
    require(isinstance(targets, torch.Tensor) and not targets.is_floating_point() and not targets.is_complex()
            and targets.dtype != torch.bool, owner, "targets", f"must be an integer tensor, got {describe(targets)}")
    require(targets.shape == logits.shape[:-1], owner, "targets",
            f"must have the shape of logits without its class dimension {tuple(logits.shape[:-1])}, "
            f"got {tuple(targets.shape)}")
    keep = targets != ignore_index
    classes = logits.shape[-1]
    outside = keep & ((targets < 0) | (targets >= classes))
    if bool(outside.any()):
        raise InvalidParameterError(owner, "targets", f"must be class indices in [0, {classes}) or "
                                    f"ignore_index={ignore_index}, got {targets[outside][0].item()}")
    return keep


def check_policy_inputs(owner: str, logprobs: torch.Tensor, **others: torch.Tensor) -> torch.Tensor:
    """Check the policy inputs (``mask`` among ``others``); the mask as booleans."""
    require(isinstance(logprobs, torch.Tensor) and logprobs.is_floating_point(), owner, "logprobs",
            f"must be a floating-point tensor, got {describe(logprobs)}")
    require(logprobs.numel() > 0, owner, "logprobs", f"is an empty batch: shape {tuple(logprobs.shape)}")
    for name, tensor in others.items():
        check_same_shape(owner, name, tensor, logprobs, "logprobs")
        require(name == "mask" or tensor.is_floating_point(), owner, name,
                f"must be a floating-point tensor, got {describe(tensor)}")
    return others["mask"] != 0


def describe(value: object) -> str:
    """``a torch.float32 tensor of shape (2, 3)``, or the type and value of a non-tensor."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"


@dataclasses.dataclass(frozen=True)
class ClassificationLoss(Method):
    """Base class: subclasses implement :meth:`rows`, the per-row ℓ of logits and in-range targets."""

    ignore_index: int = -100
    reduction: str = "mean"

    def __post_init__(self):
        require_choice(self.reduction, REDUCTIONS, self.name, "reduction")

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.reduce_rows(logits, targets, self.rows)

    def rows(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement rows")

    def reduce_rows(self, logits: torch.Tensor, targets: torch.Tensor,
                    rows: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Check the inputs, take ``rows(logits, targets)`` (ignored targets read as class 0) and
        reduce it over the rows kept."""
        keep = check_targets(self.name, logits, targets, self.ignore_index)
        values = rows(logits, targets.masked_fill(~keep, 0))
        return reduce(values.masked_fill(~keep, 0), keep, self.reduction)


@dataclasses.dataclass(frozen=True)
class PolicyLoss(Method):
    """Base class of the losses on token log-probabilities (module docstring)."""

    reduction: str = "mean"

    def __post_init__(self):
        require_choice(self.reduction, REDUCTIONS, self.name, "reduction")

    def reduce_tokens(self, values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return reduce(values.masked_fill(~keep, 0), keep, self.reduction)
