"""Softmax statistics of a logit matrix in one pass.

For each row of logits z[N, V], with p = softmax(z) and log p = z − logsumexp(z):

    lse         = log Σ_v exp(z_v)
    entropy     = H(p)    = −Σ_v p_v log p_v
    varentropy  = Var_p[−log p] = Σ_v p_v (log p_v + H)²
    max_logprob = max_v log p_v
    target_logprob = log p_{y}          (when targets y[N] are given)

Entries equal to −inf contribute nothing (0 · log 0 = 0). Inputs in bf16/fp16 accumulate in
fp32 (fp64 stays fp64); the statistics come back in the accumulation dtype.

One pass. With m = max_v z_v, u = z − m and w = exp(u):

    s = Σ w,   c = Σ w u / s = E_p[u],   M = Σ w (u − c)²
    lse = m + log s,   H = log s − c,   varentropy = M / s,   max_logprob = −log s,
    target_logprob = (z_y − m) − log s

since −log p = log s − u. Every statistic is formed from u and log s, never as a difference
with lse: at logits of magnitude L an fp32 lse is only known to ulp(L)/2 (2e-3 at L = 6e4), and
z_y − lse or exp(z − lse) would carry that error into the result, whereas z − m is exact for
logits within a factor 2 of the maximum. For the same reason the backward gets m and −log s
(max_logprob) rather than lse, and forms log p = (z − m) − log s. The Triton kernel reads the row once in blocks and merges the block
statistics (m_b, s_b, c_b, M_b) into the running ones (m, s, c, M) with Chan's parallel update
after rescaling to the new maximum m' = max(m, m_b):

    s_a = s e^{m−m'},  c_a = c + m − m',  s' = s_a + s_b,  δ = c_b − c_a,
    c' = c_a + δ s_b / s',  M' = M e^{m−m'} + M_b + δ² s_a s_b / s'

The PyTorch paths take whole rows at a time (a block of rows small enough to stay in cache)
and use the same formulas with m the row maximum.

Gradients (of any combination of the outputs, with a = log p + H = −(surprisal − H)):

    ∂lse/∂z = p,   ∂H/∂z = −p ⊙ a,   ∂varentropy/∂z = p ⊙ (a² + 2a − varentropy),
    ∂max_logprob/∂z = onehot(argmax z) − p,   ∂log p_y/∂z = onehot(y) − p

Implementations (``impl``, see :mod:`entropy_bench.kernels.dispatch`): ``"torch"`` (chunked
eager, the CPU default for small inputs), ``"compiled"`` (the same row functions through
``torch.compile``, the CPU default for large inputs), ``"triton"`` (CUDA, or the Triton
interpreter; kernels in :mod:`entropy_bench.kernels.softmax_stats_triton`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from entropy_bench.kernels.dispatch import accumulation_dtype, compiled, exp_floor, resolve_impl, row_blocks

# Elements per row block of the PyTorch paths (measured on a 2-core Xeon, 2 MiB L2 per core):
# eager ops make a few temporaries of a block, which should stay in cache together; a compiled
# block makes none, so it only has to amortise the call and its parallel region.
BLOCK_ELEMENTS = {"torch": 1 << 18, "compiled": 1 << 22}


class SoftmaxStats(NamedTuple):
    lse: torch.Tensor
    entropy: torch.Tensor
    varentropy: torch.Tensor
    max_logprob: torch.Tensor
    target_logprob: torch.Tensor | None


def softmax_stats_reference(
    logits: torch.Tensor, targets: torch.Tensor | None = None, *, dtype: torch.dtype | None = None
) -> SoftmaxStats:
    """Multi-pass reference that materialises log p and p, computed in ``dtype`` (default fp32,
    fp64 for fp64 input; a low precision gives the low-precision reference of the tests)."""
    z = logits.to(dtype or accumulation_dtype(logits.dtype))
    lse = torch.logsumexp(z, dim=-1)
    logp = z.log_softmax(dim=-1)  # (z − m) − log s: not z − lse, which cancels at large logits
    p = logp.exp()
    logp_finite = torch.where(p > 0, logp, torch.zeros_like(logp))  # 0 · log 0 = 0, also in backward
    entropy = -(p * logp_finite).sum(-1)
    varentropy = (p * (logp_finite + entropy.unsqueeze(-1)).square()).sum(-1)
    max_logprob = logp.max(dim=-1).values
    target = None if targets is None else logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return SoftmaxStats(lse, entropy, varentropy, max_logprob, target)


def softmax_stats(
    logits: torch.Tensor, targets: torch.Tensor | None = None, *, impl: str = "auto"
) -> SoftmaxStats:
    """Softmax statistics of ``logits[..., V]`` (see module docstring), differentiable.

    ``targets[...]`` (int64, values in [0, V)) selects the token whose log-prob is returned.
    """
    vocab = logits.shape[-1]
    if targets is not None and targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {tuple(logits.shape[:-1])}, got {tuple(targets.shape)}")
    impl = resolve_impl(impl, logits, logits.numel())
    rows = logits.reshape(-1, vocab).contiguous()
    row_targets = (
        torch.zeros(rows.shape[0], dtype=torch.long, device=logits.device)
        if targets is None
        else targets.reshape(-1).long().contiguous()
    )
    lse, entropy, varentropy, max_logprob, target_logprob = (
        out.reshape(logits.shape[:-1]) for out in _SoftmaxStatsFunction.apply(rows, row_targets, impl)
    )
    return SoftmaxStats(lse, entropy, varentropy, max_logprob, None if targets is None else target_logprob)


def rows_forward(z: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """lse, entropy, varentropy, max_logprob, target_logprob and the row maximum m (what the
    backward needs with max_logprob) of whole rows ``z[n, V]`` (fp32/fp64).

    The third pass recomputes exp(z − m) (unclamped: 0 at −inf) rather than reusing w, which
    keeps inductor from writing w to memory and reading it back.
    """
    m = z.amax(-1, keepdim=True)
    u = (z - m).clamp_min(exp_floor(z.dtype))
    w = u.exp()
    s = w.sum(-1)
    c = (w * u).sum(-1) / s
    varentropy = ((z - m).exp() * (u - c.unsqueeze(-1)).square()).sum(-1) / s
    log_s = s.log()
    m = m.squeeze(-1)
    target_logprob = (z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - m) - log_s
    return m + log_s, log_s - c, varentropy, -log_s, target_logprob, m


def rows_forward_eager(z: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """:func:`rows_forward` arranged for eager execution, where every op is a pass over memory:
    one ``exp`` whose result w is reused by all three sums, and the centring and squaring done
    in place (4× faster on [8, 49152] than :func:`rows_forward` run eagerly, which recomputes w
    because inductor prefers that to writing it out). w is 0 at −inf since u is clamped at
    :func:`exp_floor`."""
    m = z.amax(-1, keepdim=True)
    u = (z - m).clamp_min_(exp_floor(z.dtype))
    w = u.exp()
    s = w.sum(-1)
    c = (w * u).sum(-1) / s
    varentropy = u.sub_(c.unsqueeze(-1)).square_().mul_(w).sum(-1) / s
    log_s = s.log()
    m = m.squeeze(-1)
    target_logprob = (z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - m) - log_s
    return m + log_s, log_s - c, varentropy, -log_s, target_logprob, m


def rows_backward(
    z: torch.Tensor,
    targets: torch.Tensor,
    shift: torch.Tensor,
    max_logprob: torch.Tensor,
    entropy: torch.Tensor,
    varentropy: torch.Tensor,
    argmax: torch.Tensor,
    g_lse: torch.Tensor,
    g_entropy: torch.Tensor,
    g_varentropy: torch.Tensor,
    g_max_logprob: torch.Tensor,
    g_target_logprob: torch.Tensor,
) -> torch.Tensor:
    """∂/∂z of Σ_outputs g_output · output for whole rows ``z[n, V]`` (module docstring):
    p ⊙ (base + a (2 g_var − g_H) + g_var a²) + onehots, base = g_lse − g_y − g_max − g_var varentropy.
    ``shift`` is the row maximum m and ``max_logprob`` −log s, so that log p = (z − m) − log s."""
    a = (z - shift.unsqueeze(-1)).add_(max_logprob.unsqueeze(-1)).clamp_min_(exp_floor(z.dtype))  # log p
    p = a.exp()
    a.add_(entropy.unsqueeze(-1))
    g_var = g_varentropy.unsqueeze(-1)
    base = (g_lse - g_target_logprob - g_max_logprob - g_varentropy * varentropy).unsqueeze(-1)
    grad = (a * g_var).add_(2 * g_var - g_entropy.unsqueeze(-1)).mul_(a).add_(base).mul_(p)
    grad.scatter_add_(-1, targets.unsqueeze(-1), g_target_logprob.unsqueeze(-1))
    return grad.scatter_add_(-1, argmax.unsqueeze(-1), g_max_logprob.unsqueeze(-1))


def stats_forward(logits: torch.Tensor, targets: torch.Tensor, impl: str) -> tuple[torch.Tensor | None, ...]:
    """:func:`rows_forward` of ``logits[N, V]`` with a concrete ``impl``, block of rows by block
    (lse, entropy, varentropy, max_logprob, target_logprob, row maximum), plus the argmax of each
    row where it comes for free (Triton; None otherwise)."""
    if impl == "triton":
        from entropy_bench.kernels import softmax_stats_triton

        return softmax_stats_triton.forward(logits, targets)
    fn = compiled(rows_forward) if impl == "compiled" else rows_forward_eager
    acc = accumulation_dtype(logits.dtype)
    # outputs allocated up front: small results kept alive between a block's temporaries would
    # fragment the heap (hundreds of MB stay resident with glibc's malloc)
    stats = [torch.empty(logits.shape[0], dtype=acc, device=logits.device) for _ in range(6)]
    for b in row_blocks(logits.shape[0], BLOCK_ELEMENTS[impl] // max(1, logits.shape[1])):
        for out, value in zip(stats, fn(logits[b].to(acc), targets[b])):
            out[b] = value
    return (*stats, None)


def stats_backward(
    logits: torch.Tensor,
    targets: torch.Tensor,
    saved: tuple[torch.Tensor | None, ...],
    grads: tuple[torch.Tensor, ...],
    impl: str,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`rows_backward` of ``logits[N, V]``; ``saved`` = (row maximum, max_logprob, entropy,
    varentropy, argmax or None), ``grads`` = the five output gradients. Written into ``out`` (which
    may be ``logits`` itself) in ``logits.dtype``."""
    shift, max_logprob, entropy, varentropy, argmax = saved
    if argmax is None:  # only max_logprob's gradient needs it; torch's argmax is a slow reduction
        argmax = logits.argmax(-1) if bool(grads[3].any()) else torch.zeros_like(targets)
    if impl == "triton":
        from entropy_bench.kernels import softmax_stats_triton

        return softmax_stats_triton.backward(logits, targets, (shift, max_logprob, entropy, varentropy, argmax), grads, out)
    fn = compiled(rows_backward) if impl == "compiled" else rows_backward
    acc = accumulation_dtype(logits.dtype)
    out = torch.empty_like(logits) if out is None else out
    tensors = (shift, max_logprob, entropy, varentropy, argmax, *(g.to(acc) for g in grads))
    for b in row_blocks(logits.shape[0], BLOCK_ELEMENTS[impl] // max(1, logits.shape[1])):
        out[b] = fn(logits[b].to(acc), targets[b], *(t[b] for t in tensors))
    return out


class _SoftmaxStatsFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, impl: str):
        lse, entropy, varentropy, max_logprob, target_logprob, shift, argmax = stats_forward(logits, targets, impl)
        ctx.save_for_backward(logits, targets, shift, max_logprob, entropy, varentropy, argmax)
        ctx.impl = impl
        return lse, entropy, varentropy, max_logprob, target_logprob

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: torch.Tensor):
        logits, targets, *saved = ctx.saved_tensors
        return stats_backward(logits, targets, tuple(saved), grads, ctx.impl), None, None
