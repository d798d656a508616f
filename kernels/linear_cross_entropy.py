"""Cross-entropy of a linear layer's output without materialising the [N, V] logits.

With hidden states h[N, D], classifier weight W[V, D], optional bias b[V] and targets y[N]:

    z_i = W h_i + b,   lse_i = log Σ_v exp(z_iv),   z̄_i = (1/V) Σ_v z_iv
    ℓ_i = (1 − ε)(lse_i − z_{i y_i}) + ε (lse_i − z̄_i) + λ lse_i²       (ℓ_i = 0 where y_i = ignore_index)

ε is ``label_smoothing`` (the definition of ``torch.nn.functional.cross_entropy``: the target
mixes the one-hot with the uniform distribution), λ is ``z_loss`` (PaLM's auxiliary
λ · log² Z that keeps the normaliser near 1). ``reduction`` is ``"none"`` (ℓ[N]), ``"sum"``
or ``"mean"`` (Σ ℓ_i / #non-ignored). When every token is ignored (or N = 0) the mean is
0/0 = NaN, as ``F.cross_entropy`` returns, and its gradients are 0, as PyTorch's are: each row's
weight is 1/max(1, #non-ignored), so the loss is NaN but every ∂ℓ is multiplied by zero. With
``return_entropy`` the per-token softmax entropy H_i = lse_i − Σ_v p_iv z_iv comes back too,
differentiable.

Gradient, with r_i the upstream gradient of ℓ_i (0 on ignored tokens), g_i that of H_i and
p_i = softmax(z_i):

    ∂/∂z_i = r_i [(1 + 2λ lse_i) p_i − (1 − ε) onehot(y_i) − ε/V] − g_i p_i ⊙ (log p_i + H_i)
    ∂/∂h_i = Σ_v (∂/∂z_iv) W_v,   ∂/∂W_v = Σ_i (∂/∂z_iv) h_i,   ∂/∂b_v = Σ_i ∂/∂z_iv

Every path keeps per row the maximum logit m_i and log s_i = lse_i − m_i apart, and forms
log p_iv = (z_iv − m_i) − log s_i and −log p_{i y_i} = log s_i − (z_{i y_i} − m_i): differences
with lse itself cancel at large logits, where an fp32 lse is only known to ulp(lse)/2 (2e-3 at
6e4; see :mod:`entropy_bench.kernels.softmax_stats`). The label-smoothing term lse − z̄ is still
formed from lse and the row mean, so with ε > 0 the loss at such offsets carries that error.

Implementations (``impl``, see :mod:`entropy_bench.kernels.dispatch`):

- ``"torch"`` / ``"compiled"``: blocks of rows; a block's logits [n, V] (at most
  :data:`CHUNK_BYTES`) come from one matmul, their statistics and gradient from
  :mod:`entropy_bench.kernels.softmax_stats` (the gradient overwrites the logits in place).
  For ``reduction`` ``"sum"``/``"mean"`` without ``return_entropy`` the gradients are computed
  during the forward (the upstream gradient is then a scalar that scales them, Liger-Kernel's
  trick), so the logits are computed once; otherwise the backward recomputes them.
- ``"triton"``: Cut Cross-Entropy's scheme (Wijmans et al. 2024): tiles of logits live only in
  registers; the forward reduces them to per-row statistics, the backward recomputes each tile
  and adds its contribution to ∂h and ∂W with atomics
  (:mod:`entropy_bench.kernels.linear_cross_entropy_triton`).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from entropy_bench.kernels.dispatch import accumulation_dtype, resolve_impl, row_blocks
from entropy_bench.kernels.softmax_stats import stats_backward, stats_forward

REDUCTIONS = ("none", "sum", "mean")
CHUNK_BYTES = 32 << 20  # one block of fp32 logits in the PyTorch paths


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    reduction: str = "mean",
    return_entropy: bool = False,
    impl: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """CE(hidden[..., D] @ weight[V, D]ᵀ + bias, targets[...]) — see the module docstring.

    Returns the loss (shape ``targets.shape`` for ``reduction="none"``, else a scalar), or
    ``(loss, entropy)`` with ``entropy`` of shape ``targets.shape`` when ``return_entropy``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if z_loss < 0:
        raise ValueError(f"z_loss must be >= 0, got {z_loss}")
    if hidden.shape[:-1] != targets.shape or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"expected hidden[..., D], weight[V, D], targets[...]; got hidden {tuple(hidden.shape)}, "
            f"weight {tuple(weight.shape)}, targets {tuple(targets.shape)}"
        )
    rows = hidden.reshape(-1, hidden.shape[-1])
    impl = resolve_impl(impl, hidden, rows.shape[0] * weight.shape[0])
    differentiable = [t for t in (hidden, weight, bias) if t is not None and t.requires_grad]
    grads_in_forward = (
        impl != "triton" and reduction != "none" and not return_entropy and torch.is_grad_enabled() and bool(differentiable)
    )
    loss, entropy = _LinearCrossEntropyFunction.apply(
        rows, weight, bias, targets.reshape(-1), ignore_index, label_smoothing, z_loss, reduction,
        return_entropy, impl, grads_in_forward,
    )  # fmt: skip
    if reduction == "none":
        loss = loss.reshape(targets.shape)
    return (loss, entropy.reshape(targets.shape)) if return_entropy else loss


def _row_weights(valid: torch.Tensor, reduction: str, dtype: torch.dtype) -> torch.Tensor:
    """∂ loss / ∂ℓ_i for ``"sum"`` and ``"mean"`` (0 on ignored tokens; all 0, not NaN, when every
    token is ignored, as PyTorch's gradient of its NaN mean)."""
    weights = valid.to(dtype)
    return weights / valid.sum().clamp_min(1) if reduction == "mean" else weights


def _coefficients(upstream: torch.Tensor, lse: torch.Tensor, vocab: int, label_smoothing: float, z_loss: float):
    """(α, β, γ) per row with r_i ∂ℓ_i/∂z_i = α_i p_i − β_i onehot(y_i) − γ_i for r = ``upstream``;
    γ is None without label smoothing."""
    gamma = upstream * (label_smoothing / vocab) if label_smoothing else None
    return upstream * (1 + 2 * z_loss * lse), upstream * (1 - label_smoothing), gamma


class _LinearCrossEntropyFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, hidden, weight, bias, targets, ignore_index, label_smoothing, z_loss, reduction, return_entropy, impl,
        grads_in_forward,
    ):  # fmt: skip
        valid = targets != ignore_index
        safe_targets = torch.where(valid, targets, 0)
        vocab = weight.shape[0]
        needs = ctx.needs_input_grad[:3]
        if impl == "triton":
            from entropy_bench.kernels import linear_cross_entropy_triton

            lse, target_logprob, mean_logit, entropy, shift, max_logprob = linear_cross_entropy_triton.forward(
                hidden, weight, bias, safe_targets, return_entropy
            )
            grads = None
        else:
            row_weights = _row_weights(valid, reduction, accumulation_dtype(hidden.dtype)) if grads_in_forward else None
            lse, target_logprob, mean_logit, entropy, shift, max_logprob, grads = _chunked_forward(
                hidden, weight, bias, safe_targets, label_smoothing, z_loss, impl, row_weights, needs
            )
        row_loss = (1 - label_smoothing) * -target_logprob + z_loss * lse.square()
        if label_smoothing:
            row_loss = row_loss + label_smoothing * (lse - mean_logit)
        row_loss = torch.where(valid, row_loss, 0.0)
        loss = row_loss if reduction == "none" else row_loss.sum()
        if reduction == "mean":
            loss = loss / valid.sum()
        ctx.options = (label_smoothing, z_loss, reduction, return_entropy, impl, vocab)
        ctx.grads_in_forward = grads is not None
        if grads is not None:
            ctx.save_for_backward(*grads)
        else:
            ctx.save_for_backward(hidden, weight, bias, safe_targets, valid, lse, shift, max_logprob, entropy)
        if not return_entropy:
            ctx.mark_non_differentiable(entropy)
        return loss, entropy

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, grad_entropy):
        label_smoothing, z_loss, reduction, return_entropy, impl, vocab = ctx.options
        if ctx.grads_in_forward:
            unit = bool((grad_loss == 1).all())
            grads = tuple(g if g is None or unit else g * grad_loss.to(g.dtype) for g in ctx.saved_tensors)
            return (*grads, *[None] * 8)
        hidden, weight, bias, targets, valid, lse, shift, max_logprob, entropy = ctx.saved_tensors
        upstream = (
            torch.where(valid, grad_loss, 0.0)
            if reduction == "none"
            else grad_loss * _row_weights(valid, reduction, lse.dtype)
        )
        alpha, beta, gamma = _coefficients(upstream, lse, vocab, label_smoothing, z_loss)
        g_entropy = grad_entropy if return_entropy else None
        needs = ctx.needs_input_grad[:3]
        if impl == "triton":
            from entropy_bench.kernels import linear_cross_entropy_triton

            grads = linear_cross_entropy_triton.backward(
                hidden, weight, bias, targets, shift, max_logprob, entropy, alpha, beta, gamma, g_entropy, needs
            )
        else:
            saved = (shift, max_logprob, entropy)
            grads = _chunked_backward(hidden, weight, bias, targets, saved, alpha, beta, gamma, g_entropy, impl, needs)
        return (*grads, *[None] * 8)


def _chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    logits = hidden @ weight.T if bias is None else torch.addmm(bias, hidden, weight.T)
    return logits.to(accumulation_dtype(logits.dtype))


def _new_grads(hidden, weight, bias, needs):
    """Gradient buffers (∂h in its dtype, written block by block; ∂W, ∂b zeroed, accumulated in
    fp32/fp64), None where not needed."""
    acc = accumulation_dtype(weight.dtype)
    return (
        torch.empty_like(hidden) if needs[0] else None,
        torch.zeros(weight.shape, dtype=acc, device=weight.device) if needs[1] else None,
        torch.zeros(bias.shape, dtype=acc, device=bias.device) if bias is not None and needs[2] else None,
    )


def _accumulate_grads(logits, hidden, weight, targets, saved, alpha, beta, gamma, g_entropy, grads, rows, impl):
    """Turn a block's ``logits`` into ∂/∂z in place, then add its share to ∂h, ∂W, ∂b;
    ``saved`` = the block's (row maximum, max_logprob, entropy)."""
    shift, max_logprob, entropy = saved
    zeros = torch.zeros_like(entropy)
    g_entropy = zeros if g_entropy is None else g_entropy
    # softmax_stats' gradient: g_lse·p + g_target·(onehot(y) − p) + g_entropy·∂H/∂z
    grad_logits = stats_backward(
        logits, targets, (shift, max_logprob, entropy, zeros, None), (alpha - beta, g_entropy, zeros, zeros, -beta),
        impl, out=logits,
    )  # fmt: skip
    if gamma is not None:
        grad_logits.sub_(gamma.unsqueeze(-1))
    grad_hidden, grad_weight, grad_bias = grads
    if grad_hidden is not None:
        grad_hidden[rows] = grad_logits.to(weight.dtype) @ weight
    if grad_weight is not None:
        grad_weight.addmm_(grad_logits.T, hidden.to(grad_weight.dtype))
    if grad_bias is not None:
        grad_bias += grad_logits.sum(0)


def _rows_per_chunk(weight: torch.Tensor) -> int:
    return max(1, CHUNK_BYTES // (4 * weight.shape[0]))


def _chunked_forward(hidden, weight, bias, targets, label_smoothing, z_loss, impl, row_weights, needs):
    """lse, target log-prob, mean logit, entropy, maximum logit and max log-prob (−log s) per row;
    with ``row_weights`` (∂loss/∂ℓ_i) also (∂h, ∂W, ∂b) of the loss, else None."""
    grads = _new_grads(hidden, weight, bias, needs) if row_weights is not None else None
    # filled block by block rather than gathered: small results kept alive between the blocks'
    # temporaries would fragment the heap
    lse, target_logprob, mean_logit, entropy, shift, max_logprob = (
        torch.zeros(hidden.shape[0], dtype=accumulation_dtype(hidden.dtype), device=hidden.device) for _ in range(6)
    )
    for rows in row_blocks(hidden.shape[0], _rows_per_chunk(weight)):
        logits = _chunk_logits(hidden[rows], weight, bias)
        lse[rows], entropy[rows], _, max_logprob[rows], target_logprob[rows], shift[rows], _ = stats_forward(
            logits, targets[rows], impl
        )
        if label_smoothing:
            mean_logit[rows] = logits.mean(-1)
        if grads is not None:
            alpha, beta, gamma = _coefficients(row_weights[rows], lse[rows], weight.shape[0], label_smoothing, z_loss)
            _accumulate_grads(
                logits, hidden[rows], weight, targets[rows], (shift[rows], max_logprob[rows], entropy[rows]), alpha,
                beta, gamma, None, grads, rows, impl,
            )  # fmt: skip
        del logits  # free this block's logits before the next block's are allocated
    grads = None if grads is None else _cast_grads(grads, weight, bias)
    return lse, target_logprob, mean_logit, entropy, shift, max_logprob, grads


def _chunked_backward(hidden, weight, bias, targets, saved, alpha, beta, gamma, g_entropy, impl, needs):
    """(∂h, ∂W, ∂b); ``saved`` = per-row (maximum logit, max log-prob, entropy)."""
    grads = _new_grads(hidden, weight, bias, needs)
    for rows in row_blocks(hidden.shape[0], _rows_per_chunk(weight)):
        _accumulate_grads(
            _chunk_logits(hidden[rows], weight, bias), hidden[rows], weight, targets[rows], tuple(t[rows] for t in saved),
            alpha[rows], beta[rows], None if gamma is None else gamma[rows],
            None if g_entropy is None else g_entropy[rows], grads, rows, impl,
        )  # fmt: skip
    return _cast_grads(grads, weight, bias)


def _cast_grads(grads, weight, bias):
    grad_hidden, grad_weight, grad_bias = grads
    return (
        grad_hidden,
        None if grad_weight is None else grad_weight.to(weight.dtype),
        None if grad_bias is None else grad_bias.to(bias.dtype),
    )
