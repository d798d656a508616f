"""Triton kernels of :mod:`entropy_bench.kernels.softmax_stats`: one program per row.

The forward reads the row once, in blocks of ``BLOCK_V``, merging block statistics into
running ones (max m, Σ exp(z − m), mean c of z − m under p, M = Σ exp(z − m)(z − m − c)²;
formulas in the reference module), and stores the row maximum m besides the statistics. The
backward reads the row once more and writes
∂/∂z = p ⊙ (g_lse − g_y − g_max − g_var·varentropy + a (g_var (a + 2) − g_H))
       + g_y onehot(y) + g_max onehot(argmax),   a = log p + H,
with log p = (z − m) + max_logprob (= (z − m) − log s, not z − lse: see the reference module).
Both accumulate in fp32 whatever the input dtype.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _forward_kernel(
    logits_ptr, targets_ptr, lse_ptr, entropy_ptr, varentropy_ptr, max_logprob_ptr, target_logprob_ptr,
    shift_ptr, argmax_ptr, vocab, row_stride, BLOCK_V: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    row_ptr = logits_ptr + row * row_stride
    offsets = tl.arange(0, BLOCK_V)
    neg_inf = float("-inf")
    m = tl.full((), neg_inf, tl.float32)
    s = tl.zeros((), tl.float32)
    c = tl.zeros((), tl.float32)
    big_m = tl.zeros((), tl.float32)
    argmax = tl.zeros((), tl.int32)
    for start in range(0, vocab, BLOCK_V):
        cols = start + offsets
        z = tl.load(row_ptr + cols, mask=cols < vocab, other=neg_inf).to(tl.float32)
        block_max = tl.max(z, 0)
        argmax = tl.where(block_max > m, tl.argmax(z, 0) + start, argmax)
        new_m = tl.maximum(m, block_max)
        shift = tl.where(new_m == neg_inf, 0.0, new_m)  # rows that are −inf so far weigh 0
        w = tl.exp(z - shift)
        u = tl.where(w > 0, z - shift, 0.0)
        block_s = tl.sum(w, 0)
        block_c = tl.sum(w * u, 0) / tl.maximum(block_s, 1e-30)
        d = tl.where(w > 0, u - block_c, 0.0)
        block_big_m = tl.sum(w * d * d, 0)
        rescale = tl.exp(m - shift)
        old_s = s * rescale
        old_c = tl.where(old_s > 0, c + (m - shift), 0.0)
        s = old_s + block_s
        delta = block_c - old_c
        frac = block_s / tl.maximum(s, 1e-30)
        c = old_c + delta * frac
        big_m = big_m * rescale + block_big_m + delta * delta * old_s * frac
        m = new_m
    log_s = tl.log(s)
    lse = m + log_s
    tl.store(lse_ptr + row, lse)
    tl.store(entropy_ptr + row, log_s - c)
    tl.store(varentropy_ptr + row, big_m / s)
    tl.store(max_logprob_ptr + row, -log_s)
    tl.store(shift_ptr + row, m)
    tl.store(argmax_ptr + row, argmax.to(tl.int64))
    target = tl.load(targets_ptr + row)
    valid = (target >= 0) & (target < vocab)
    z_target = tl.load(row_ptr + target, mask=valid, other=float("nan")).to(tl.float32)
    tl.store(target_logprob_ptr + row, (z_target - m) - log_s)


@triton.jit
def _backward_kernel(
    logits_ptr, targets_ptr, shift_ptr, max_logprob_ptr, entropy_ptr, varentropy_ptr, argmax_ptr, g_lse_ptr, g_entropy_ptr,
    g_varentropy_ptr, g_max_logprob_ptr, g_target_logprob_ptr, grad_ptr, vocab, row_stride, grad_row_stride,
    BLOCK_V: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    shift = tl.load(shift_ptr + row)
    max_logprob = tl.load(max_logprob_ptr + row)
    entropy = tl.load(entropy_ptr + row)
    g_entropy = tl.load(g_entropy_ptr + row)
    g_varentropy = tl.load(g_varentropy_ptr + row)
    g_max = tl.load(g_max_logprob_ptr + row)
    g_target = tl.load(g_target_logprob_ptr + row)
    base = tl.load(g_lse_ptr + row) - g_target - g_max - g_varentropy * tl.load(varentropy_ptr + row)
    target = tl.load(targets_ptr + row)
    argmax = tl.load(argmax_ptr + row)
    offsets = tl.arange(0, BLOCK_V)
    for start in range(0, vocab, BLOCK_V):
        cols = start + offsets
        z = tl.load(logits_ptr + row * row_stride + cols, mask=cols < vocab, other=float("-inf")).to(tl.float32)
        log_p = (z - shift) + max_logprob
        p = tl.exp(log_p)
        a = tl.where(p > 0, log_p + entropy, 0.0)
        grad = p * (base + a * (g_varentropy * (a + 2.0) - g_entropy))
        grad += tl.where(cols == target, g_target, 0.0) + tl.where(cols == argmax, g_max, 0.0)
        tl.store(grad_ptr + row * grad_row_stride + cols, grad.to(grad_ptr.dtype.element_ty), mask=cols < vocab)


def _launch_config(vocab: int) -> dict[str, int]:
    block = min(triton.next_power_of_2(vocab), 4096)
    return {"BLOCK_V": block, "num_warps": 8 if block >= 2048 else 4}


def forward(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """lse, entropy, varentropy, max_logprob, target_logprob, the row maximum (fp32) and argmax of
    ``logits[N, V]``."""
    logits = logits.contiguous()
    rows, vocab = logits.shape
    stats = [torch.empty(rows, dtype=torch.float32, device=logits.device) for _ in range(6)]
    argmax = torch.empty(rows, dtype=torch.long, device=logits.device)
    if rows:
        _forward_kernel[(rows,)](logits, targets.contiguous(), *stats, argmax, vocab, logits.stride(0), **_launch_config(vocab))
    return (*stats, argmax)


def backward(
    logits: torch.Tensor,
    targets: torch.Tensor,
    saved: tuple[torch.Tensor, ...],
    grads: tuple[torch.Tensor, ...],
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """∂/∂logits in ``logits.dtype``; ``saved`` = (row maximum, max_logprob, entropy, varentropy, argmax)."""
    logits = logits.contiguous()
    rows, vocab = logits.shape
    out = torch.empty_like(logits) if out is None else out
    shift, max_logprob, entropy, varentropy, argmax = saved
    grads = [g.float().contiguous() for g in grads]  # g_lse, g_entropy, g_varentropy, g_max_logprob, g_target_logprob
    if rows:
        _backward_kernel[(rows,)](
            logits, targets.contiguous(), shift, max_logprob, entropy, varentropy, argmax, *grads, out, vocab,
            logits.stride(0), out.stride(0), **_launch_config(vocab),
        )  # fmt: skip
    return out
