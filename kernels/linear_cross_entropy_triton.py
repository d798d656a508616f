"""Triton kernels of :mod:`entropy_bench.kernels.linear_cross_entropy` (Cut Cross-Entropy's scheme).

A tile of logits z[BLOCK_N, BLOCK_V] = h W_tileᵀ + b is computed by ``tl.dot`` over blocks of
D and never leaves the chip.

Forward, grid (row blocks, vocabulary splits): each program walks its split of the vocabulary
tile by tile and keeps per row the running max m, s = Σ exp(z − m), the mean c = E_p[z − m]
(for the entropy), the target logit and Σ z; tiles that are all −inf so far (a −inf bias) weigh 0.
The host merges the splits relative to the row maximum M = max_k m_k:

    S = Σ_k s_k e^{m_k − M},   π_k = s_k e^{m_k − M} / S,   lse = M + log S,
    H = log S − Σ_k π_k (m_k − M + c_k),   log p_y = (z_y − M) − log S

— never as differences with lse, which an fp32 lse makes wrong by ulp(lse)/2 at large logits (2e-3
at 6e4; see :mod:`entropy_bench.kernels.softmax_stats`).

Backward, grid (row blocks, vocabulary blocks): each program recomputes its tile, forms
G = α p − β onehot(y) − γ − g_H p ⊙ (log p + H) with log p = (z − M) − log S (per-row M, log S,
α, β, γ, g_H from the host) and adds G W_tile to ∂h and Gᵀ h to ∂W_tile with fp32 atomics.

``tl.dot`` runs in the input dtype (bf16/fp16 tensor cores; fp32 as TF32 unless
``torch.get_float32_matmul_precision() == "highest"``) and accumulates in fp32. Under
``TRITON_INTERPRET=1`` the operands are upcast to fp32 first: the interpreter of Triton 3.5
returns garbage for ``tl.dot`` of bf16 operands.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl


@triton.jit
def _logits_tile(
    hidden_ptr, weight_ptr, bias_ptr, rows, cols, row_mask, col_mask, dim,
    HAS_BIAS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr,
    UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    logits = tl.zeros((BLOCK_N, BLOCK_V), dtype=tl.float32)
    for start in range(0, dim, BLOCK_D):
        ds = start + tl.arange(0, BLOCK_D)
        d_mask = ds < dim
        h = tl.load(hidden_ptr + rows[:, None] * dim + ds[None, :], mask=row_mask[:, None] & d_mask[None, :], other=0.0)
        w = tl.load(weight_ptr + cols[:, None] * dim + ds[None, :], mask=col_mask[:, None] & d_mask[None, :], other=0.0)
        if UPCAST:
            h = h.to(tl.float32)
            w = w.to(tl.float32)
        logits = tl.dot(h, tl.trans(w), logits, input_precision=PRECISION)
    if HAS_BIAS:
        logits += tl.load(bias_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)[None, :]
    return logits


@triton.jit
def _forward_kernel(
    hidden_ptr, weight_ptr, bias_ptr, targets_ptr, max_ptr, sum_ptr, mean_ptr, target_ptr, logit_sum_ptr,
    rows_total, vocab, dim, vocab_per_split,
    HAS_BIAS: tl.constexpr, ENTROPY: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr,
    BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_mask = rows < rows_total
    rows = rows.to(tl.int64)
    split = tl.program_id(1)
    targets = tl.load(targets_ptr + rows, mask=row_mask, other=-1)
    m = tl.full((BLOCK_N,), float("-inf"), tl.float32)
    s = tl.zeros((BLOCK_N,), tl.float32)
    c = tl.zeros((BLOCK_N,), tl.float32)
    target_logit = tl.zeros((BLOCK_N,), tl.float32)
    logit_sum = tl.zeros((BLOCK_N,), tl.float32)
    begin = split * vocab_per_split
    end = tl.minimum(begin + vocab_per_split, vocab)
    for start in range(begin, end, BLOCK_V):
        cols = start + tl.arange(0, BLOCK_V)
        col_mask = cols < end
        z = _logits_tile(
            hidden_ptr, weight_ptr, bias_ptr, rows, cols, row_mask, col_mask, dim,
            HAS_BIAS, BLOCK_N, BLOCK_V, BLOCK_D, UPCAST, PRECISION,
        )  # fmt: skip
        z_valid = tl.where(col_mask[None, :], z, 0.0)
        target_logit += tl.sum(tl.where(cols[None, :] == targets[:, None], z_valid, 0.0), 1)
        logit_sum += tl.sum(z_valid, 1)
        z = tl.where(col_mask[None, :], z, float("-inf"))
        new_m = tl.maximum(m, tl.max(z, 1))
        shift = tl.where(new_m == float("-inf"), 0.0, new_m)  # rows that are −inf so far weigh 0
        w = tl.exp(z - shift[:, None])
        old_s = s * tl.exp(m - shift)
        s = old_s + tl.sum(w, 1)
        if ENTROPY:
            u = tl.where(w > 0, z - shift[:, None], 0.0)
            old_c = tl.where(old_s > 0, c + (m - shift), 0.0)
            c = tl.where(s > 0, (old_c * old_s + tl.sum(w * u, 1)) / tl.maximum(s, 1e-30), 0.0)
        m = new_m
    offsets = split * rows_total + rows
    tl.store(max_ptr + offsets, m, mask=row_mask)
    tl.store(sum_ptr + offsets, s, mask=row_mask)
    tl.store(mean_ptr + offsets, c, mask=row_mask)
    tl.store(target_ptr + offsets, target_logit, mask=row_mask)
    tl.store(logit_sum_ptr + offsets, logit_sum, mask=row_mask)


@triton.jit
def _backward_kernel(
    hidden_ptr, weight_ptr, bias_ptr, targets_ptr, shift_ptr, log_norm_ptr, entropy_ptr, alpha_ptr, beta_ptr, gamma_ptr,
    g_entropy_ptr, grad_hidden_ptr, grad_weight_ptr, grad_bias_ptr, rows_total, vocab, dim,
    HAS_BIAS: tl.constexpr, ENTROPY: tl.constexpr, GRAD_HIDDEN: tl.constexpr, GRAD_WEIGHT: tl.constexpr,
    GRAD_BIAS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr,
    UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.program_id(1) * BLOCK_V + tl.arange(0, BLOCK_V)
    row_mask = rows < rows_total
    col_mask = cols < vocab
    rows = rows.to(tl.int64)
    cols = cols.to(tl.int64)
    z = _logits_tile(
        hidden_ptr, weight_ptr, bias_ptr, rows, cols, row_mask, col_mask, dim,
        HAS_BIAS, BLOCK_N, BLOCK_V, BLOCK_D, UPCAST, PRECISION,
    )  # fmt: skip
    mask = row_mask[:, None] & col_mask[None, :]
    shift = tl.load(shift_ptr + rows, mask=row_mask, other=0.0)
    log_norm = tl.load(log_norm_ptr + rows, mask=row_mask, other=0.0)
    targets = tl.load(targets_ptr + rows, mask=row_mask, other=-1)
    log_p = tl.where(mask, (z - shift[:, None]) - log_norm[:, None], float("-inf"))  # masked rows: no exp overflow
    p = tl.exp(log_p)
    grad = p * tl.load(alpha_ptr + rows, mask=row_mask, other=0.0)[:, None]
    grad -= tl.where(cols[None, :] == targets[:, None], tl.load(beta_ptr + rows, mask=row_mask, other=0.0)[:, None], 0.0)
    grad -= tl.load(gamma_ptr + rows, mask=row_mask, other=0.0)[:, None]
    if ENTROPY:
        entropy = tl.load(entropy_ptr + rows, mask=row_mask, other=0.0)
        g_entropy = tl.load(g_entropy_ptr + rows, mask=row_mask, other=0.0)
        grad -= g_entropy[:, None] * p * tl.where(p > 0, log_p + entropy[:, None], 0.0)  # 0 · log 0 = 0
    grad = tl.where(mask, grad, 0.0)
    if GRAD_BIAS:
        tl.atomic_add(grad_bias_ptr + cols, tl.sum(grad, 0), mask=col_mask)
    if UPCAST:
        grad_in = grad
    else:
        grad_in = grad.to(hidden_ptr.dtype.element_ty)
    for start in range(0, dim, BLOCK_D):
        ds = start + tl.arange(0, BLOCK_D)
        d_mask = ds < dim
        if GRAD_HIDDEN:
            w = tl.load(weight_ptr + cols[:, None] * dim + ds[None, :], mask=col_mask[:, None] & d_mask[None, :], other=0.0)
            if UPCAST:
                w = w.to(tl.float32)
            tl.atomic_add(
                grad_hidden_ptr + rows[:, None] * dim + ds[None, :],
                tl.dot(grad_in, w, input_precision=PRECISION),
                mask=row_mask[:, None] & d_mask[None, :],
            )
        if GRAD_WEIGHT:
            h = tl.load(hidden_ptr + rows[:, None] * dim + ds[None, :], mask=row_mask[:, None] & d_mask[None, :], other=0.0)
            if UPCAST:
                h = h.to(tl.float32)
            tl.atomic_add(
                grad_weight_ptr + cols[:, None] * dim + ds[None, :],
                tl.dot(tl.trans(grad_in), h, input_precision=PRECISION),
                mask=col_mask[:, None] & d_mask[None, :],
            )


def _config(rows: int, vocab: int, dim: int, dtype: torch.dtype) -> dict:
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    highest = dtype == torch.float32 and torch.get_float32_matmul_precision() == "highest"
    return {
        "BLOCK_N": min(64, max(16, triton.next_power_of_2(rows))),
        "BLOCK_V": min(128, max(16, triton.next_power_of_2(vocab))),
        "BLOCK_D": min(64, max(16, triton.next_power_of_2(dim))),
        "UPCAST": interpreted,
        "PRECISION": "ieee" if highest else "tf32",
        "num_warps": 8,
    }


def _splits(row_blocks: int, vocab_blocks: int, device: torch.device) -> int:
    """Vocabulary splits of the forward: enough programs to fill the GPU, no split empty."""
    programs = 4 * torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    per_split = triton.cdiv(vocab_blocks, min(vocab_blocks, max(1, triton.cdiv(programs, row_blocks))))
    return triton.cdiv(vocab_blocks, per_split)


def forward(hidden, weight, bias, targets, with_entropy: bool):
    """Per-row lse, target log-prob, mean logit, entropy (zeros unless ``with_entropy``), maximum
    logit M and max log-prob −log S (what :func:`backward` needs), fp32."""
    hidden, weight = hidden.contiguous(), weight.contiguous()
    rows, dim = hidden.shape
    vocab = weight.shape[0]
    if rows == 0:  # no program to launch (and the grid arithmetic below divides by the row blocks)
        return tuple(torch.zeros(0, dtype=torch.float32, device=hidden.device) for _ in range(6))
    config = _config(rows, vocab, dim, hidden.dtype)
    row_blocks = triton.cdiv(rows, config["BLOCK_N"])
    splits = _splits(row_blocks, triton.cdiv(vocab, config["BLOCK_V"]), hidden.device)
    vocab_per_split = triton.cdiv(triton.cdiv(vocab, config["BLOCK_V"]), splits) * config["BLOCK_V"]
    m, s, c, target_logit, logit_sum = (
        torch.empty(splits, rows, dtype=torch.float32, device=hidden.device) for _ in range(5)
    )
    _forward_kernel[(row_blocks, splits)](
        hidden, weight, hidden if bias is None else bias.contiguous(), targets.contiguous(), m, s, c,
        target_logit, logit_sum, rows, vocab, dim, vocab_per_split,
        HAS_BIAS=bias is not None, ENTROPY=with_entropy, **config,
    )  # fmt: skip
    shift = m.amax(0)
    split_offset = m - shift  # −inf for splits that are all −inf (s = 0 there)
    scaled = s * split_offset.exp()
    log_norm = scaled.sum(0).log()
    lse = shift + log_norm
    if with_entropy:
        weights = scaled / scaled.sum(0)
        entropy = log_norm - torch.where(weights > 0, weights * (split_offset + c), 0.0).sum(0)
    else:
        entropy = torch.zeros_like(lse)
    target_logprob = (target_logit.sum(0) - shift) - log_norm
    return lse, target_logprob, logit_sum.sum(0) / vocab, entropy, shift, -log_norm


def backward(hidden, weight, bias, targets, shift, max_logprob, entropy, alpha, beta, gamma, g_entropy, needs):
    """(∂h, ∂W, ∂b) in the input dtypes, None where ``needs`` is False; ``shift`` and
    ``max_logprob`` are :func:`forward`'s M and −log S."""
    hidden, weight = hidden.contiguous(), weight.contiguous()
    rows, dim = hidden.shape
    vocab = weight.shape[0]
    grad_hidden, grad_weight, grad_bias = (
        torch.zeros(shape, dtype=torch.float32, device=hidden.device) if need else None
        for shape, need in zip(((rows, dim), (vocab, dim), (vocab,)), (needs[0], needs[1], needs[2] and bias is not None))
    )
    if rows:
        config = _config(rows, vocab, dim, hidden.dtype)
        fp32 = [t.float().contiguous() for t in (shift, -max_logprob, entropy, alpha, beta)]
        gamma = torch.zeros_like(fp32[0]) if gamma is None else gamma.float().contiguous()
        g_entropy_arg = fp32[0] if g_entropy is None else g_entropy.float().contiguous()
        grid = (triton.cdiv(rows, config["BLOCK_N"]), triton.cdiv(vocab, config["BLOCK_V"]))
        _backward_kernel[grid](
            hidden, weight, hidden if bias is None else bias.contiguous(), targets.contiguous(), *fp32, gamma,
            g_entropy_arg, *(fp32[0] if g is None else g for g in (grad_hidden, grad_weight, grad_bias)), rows, vocab,
            dim, HAS_BIAS=bias is not None, ENTROPY=g_entropy is not None, GRAD_HIDDEN=grad_hidden is not None,
            GRAD_WEIGHT=grad_weight is not None, GRAD_BIAS=grad_bias is not None, **config,
        )  # fmt: skip
    return (
        None if grad_hidden is None else grad_hidden.to(hidden.dtype),
        None if grad_weight is None else grad_weight.to(weight.dtype),
        None if grad_bias is None else grad_bias.to(bias.dtype),
    )
