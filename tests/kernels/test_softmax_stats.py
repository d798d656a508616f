"""softmax_stats: every implementation against the multi-pass reference, on odd shapes."""

from __future__ import annotations

import math

import pytest
import torch

from entropy_bench.kernels import dispatch, softmax_stats as module
from entropy_bench.kernels.softmax_stats import SoftmaxStats, softmax_stats, softmax_stats_reference

FIELDS = ("lse", "entropy", "varentropy", "max_logprob", "target_logprob")
# (N, V): one row; V below, between and above the Triton block (4096) and not a multiple of it.
SHAPES = [(1, 7), (4, 257), (5, 5000)]
TOL = {"value": 2e-5, "grad": 1e-6}


def row_tol(logits: torch.Tensor, base: float, weights: dict | None = None) -> torch.Tensor:
    """Per-row tolerance: the fp32 reference itself rounds log p = z − lse at the scale of the
    row's logits (row 2 sits at +300, where an fp32 ulp is 3e-5), scaled for gradients by the
    upstream weights."""
    scale = logits.float().nan_to_num(neginf=0.0).abs().amax(-1)
    if weights is not None:
        scale = scale * sum(w.abs() for w in weights.values())
    return base + 8 * torch.finfo(torch.float32).eps * scale


def make_logits(rows: int, vocab: int, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits with the awkward rows: row 0 has −inf entries (and its target is one of
    them), row 1 is one-hot (a single finite entry), row 2 sits at a large offset."""
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(rows, vocab, generator=generator)
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    logits[0, 1::3] = float("-inf")
    targets[0] = 1 if vocab > 1 else 0
    if rows > 1:
        logits[1] = float("-inf")
        logits[1, vocab // 2] = 2.5
    if rows > 2:
        logits[2] += 300.0
    return logits.to(dtype), targets


def run(fn, logits, targets, weights):
    """The stats and d(Σ weights·stats)/d logits (fields without weights get no gradient)."""
    logits = logits.detach().clone().requires_grad_()
    stats = fn(logits, targets)
    sum((w * getattr(stats, f)).sum() for f, w in weights.items()).backward()
    return stats, logits.grad


def upstream(rows: int, fields) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {f: torch.randn(rows, generator=generator) for f in fields}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("impl", ["torch", "triton"])
def test_matches_reference(impl, shape, dtype, within_lowprec, request):
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")
    logits, targets = make_logits(*shape, dtype)
    # bf16 logits tie at the maximum, where max_logprob's gradient is a matter of choice
    weights = upstream(shape[0], FIELDS if dtype == torch.float32 else set(FIELDS) - {"max_logprob"})
    ref32, grad32 = run(softmax_stats_reference, logits.float(), targets, weights)
    low, grad_low = run(lambda z, y: softmax_stats_reference(z, y, dtype=dtype), logits, targets, weights)
    ours, grad = run(lambda z, y: softmax_stats(z, y, impl=impl), logits, targets, weights)
    assert grad.dtype == dtype
    for field in FIELDS:
        assert getattr(ours, field).dtype == torch.float32
        within_lowprec(getattr(ours, field), getattr(ref32, field), getattr(low, field), row_tol(logits, TOL["value"]), field, dtype)
    within_lowprec(grad, grad32, grad_low, row_tol(logits, TOL["grad"], weights).unsqueeze(-1), "grad", dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_compiled_matches_reference(dtype, within_lowprec):
    logits, targets = make_logits(5, 5000, dtype)
    weights = upstream(5, ("lse", "entropy", "varentropy", "target_logprob"))
    ref32, grad32 = run(softmax_stats_reference, logits.float(), targets, weights)
    low, grad_low = run(lambda z, y: softmax_stats_reference(z, y, dtype=dtype), logits, targets, weights)
    ours, grad = run(lambda z, y: softmax_stats(z, y, impl="compiled"), logits, targets, weights)
    for field in FIELDS:
        within_lowprec(getattr(ours, field), getattr(ref32, field), getattr(low, field), row_tol(logits, TOL["value"]), field, dtype)
    within_lowprec(grad, grad32, grad_low, row_tol(logits, TOL["grad"], weights).unsqueeze(-1), "grad", dtype)


@pytest.mark.parametrize("field", FIELDS)
def test_gradcheck_fp64(field):
    logits, targets = make_logits(4, 9, torch.float64)
    targets[0] = 0  # a finite entry: finite differences of a −inf log-prob are NaN
    mask = logits.isinf()
    finite = logits.masked_fill(mask, 0.0).requires_grad_()

    def fn(z):
        return getattr(softmax_stats(z.masked_fill(mask, float("-inf")), targets, impl="torch"), field)

    assert torch.autograd.gradcheck(fn, (finite,))


def test_row_blocks_do_not_change_the_result(monkeypatch):
    logits, targets = make_logits(7, 300, torch.float32)
    logits.requires_grad_()
    whole = softmax_stats(logits, targets, impl="torch")
    (grad_whole,) = torch.autograd.grad(whole.entropy.sum() + whole.target_logprob.sum(), logits)
    monkeypatch.setitem(module.BLOCK_ELEMENTS, "torch", 2 * 300)
    blocks = softmax_stats(logits, targets, impl="torch")
    (grad_blocks,) = torch.autograd.grad(blocks.entropy.sum() + blocks.target_logprob.sum(), logits)
    for field in FIELDS:
        torch.testing.assert_close(getattr(blocks, field), getattr(whole, field))
    torch.testing.assert_close(grad_blocks, grad_whole)


@pytest.mark.parametrize("impl", ["torch", "triton"])
def test_known_distributions(impl, request):
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")
    vocab, q = 6, 0.2
    uniform = torch.full((vocab,), 1.5)
    one_hot = torch.full((vocab,), float("-inf"))
    one_hot[4] = 5.0
    two_point = torch.full((vocab,), float("-inf"))
    two_point[:2] = torch.tensor([math.log(q), math.log(1 - q)])
    stats = softmax_stats(torch.stack([uniform, one_hot, two_point]), torch.tensor([0, 4, 1]), impl=impl)
    two_point_entropy = -q * math.log(q) - (1 - q) * math.log(1 - q)
    expected = SoftmaxStats(
        lse=torch.tensor([1.5 + math.log(vocab), 5.0, 0.0]),
        entropy=torch.tensor([math.log(vocab), 0.0, two_point_entropy]),
        varentropy=torch.tensor([0.0, 0.0, q * (1 - q) * math.log(q / (1 - q)) ** 2]),
        max_logprob=torch.tensor([-math.log(vocab), 0.0, math.log(1 - q)]),
        target_logprob=torch.tensor([-math.log(vocab), 0.0, math.log(1 - q)]),
    )
    for field in FIELDS:
        torch.testing.assert_close(getattr(stats, field), getattr(expected, field), atol=1e-6, rtol=1e-6)


IMPLS = ["torch", "compiled", "triton"]


def exact_run(impl, logits, targets, weights):
    """``run`` of ``impl`` and the float64 reference (with its gradient in float64)."""
    ours, grad = run(lambda z, y: softmax_stats(z, y, impl=impl), logits, targets, weights)
    ref, grad_ref = run(softmax_stats_reference, logits.double(), targets, {f: w.double() for f, w in weights.items()})
    return ours, grad, ref, grad_ref


@pytest.mark.parametrize("impl", IMPLS)
def test_no_rows(impl, request):
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")
    logits, targets = torch.zeros(0, 10), torch.zeros(0, dtype=torch.long)
    stats, grad = run(lambda z, y: softmax_stats(z, y, impl=impl), logits, targets, upstream(0, FIELDS))
    assert all(getattr(stats, f).shape == (0,) for f in FIELDS) and grad.shape == (0, 10)


@pytest.mark.parametrize("impl", IMPLS)
def test_rows_that_are_minus_inf_but_one(impl, request):
    # V = 9000 spans three Triton blocks of 4096: the finite entry in the first, middle or last
    # block, every other block all −inf (before or after it), and a row with two finite entries.
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")
    vocab = 9000
    logits = torch.full((4, vocab), float("-inf"))
    logits[0, 5] = 1.0
    logits[1, 4500] = -2.0
    logits[2, vocab - 3] = 3.0
    logits[3, [10, vocab - 1]] = torch.tensor([0.0, math.log(3.0)])
    targets = torch.tensor([5, 4500, vocab - 3, vocab - 1])
    weights = upstream(4, FIELDS)
    ours, grad, ref, grad_ref = exact_run(impl, logits, targets, weights)
    for field in FIELDS:
        value = getattr(ours, field)
        assert value.isfinite().all(), field
        torch.testing.assert_close(value.double(), getattr(ref, field), rtol=0, atol=1e-6)
    assert (ours.entropy[:3] == 0).all() and (ours.varentropy[:3] == 0).all()
    assert not grad.isnan().any()
    torch.testing.assert_close(grad.double(), grad_ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("offset", [6e4, -6e4])
@pytest.mark.parametrize("impl", IMPLS)
def test_logits_at_plus_minus_6e4(impl, offset, request):
    # Exact fp32 logits (offset + multiples of 1/16 within ±16; the ulp at 6e4 is 1/256): an fp32
    # lse there is only good to 2e-3, so z_y − lse and exp(z − lse) were off by that much; formed
    # from z − max and log s, every statistic and the gradient are good to fp32 rounding of O(1) values.
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")
    generator = torch.Generator().manual_seed(0)
    logits = offset + torch.randint(-256, 256, (5, 5000), generator=generator) / 16.0
    targets = torch.randint(0, 5000, (5,), generator=generator)
    weights = upstream(5, set(FIELDS) - {"max_logprob"})  # ties at the maximum: its gradient is a choice
    ours, grad, ref, grad_ref = exact_run(impl, logits, targets, weights)
    for field in FIELDS:
        if field != "lse":  # lse itself is ~6e4: good to its own ulp
            torch.testing.assert_close(getattr(ours, field).double(), getattr(ref, field), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours.lse.double(), ref.lse, rtol=1e-7, atol=0)
    torch.testing.assert_close(grad.double(), grad_ref, rtol=0, atol=1e-7)


def test_leading_dimensions_and_no_targets():
    logits = torch.randn(2, 3, 11)
    stats = softmax_stats(logits)
    assert stats.target_logprob is None
    assert all(getattr(stats, f).shape == (2, 3) for f in FIELDS[:4])
    flat = softmax_stats(logits.reshape(6, 11))
    torch.testing.assert_close(stats.entropy.reshape(6), flat.entropy)


def test_does_not_mutate_input():
    logits, targets = make_logits(4, 50, torch.float32)
    copy = logits.clone()
    softmax_stats(logits.requires_grad_(), targets).entropy.sum().backward()
    assert torch.equal(logits.detach(), copy)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="impl"):
        softmax_stats(torch.randn(2, 5), impl="cuda")
    with pytest.raises(ValueError, match="targets"):
        softmax_stats(torch.randn(2, 5), torch.tensor([1, 2, 3]))


def test_auto_picks_compiled_only_for_large_inputs():
    logits = torch.empty(2, 3)
    assert dispatch.resolve_impl("auto", logits, 100) == "torch"
    assert dispatch.resolve_impl("auto", logits, dispatch.COMPILE_MIN_ELEMENTS) == "compiled"


def test_failed_compilation_falls_back_to_eager(monkeypatch):
    def broken_compile(fn, **kwargs):
        def call(*args):
            raise torch._dynamo.exc.TorchDynamoException("no C++ compiler")

        return call

    monkeypatch.setattr(dispatch, "_COMPILED", {})
    monkeypatch.setattr(torch, "compile", broken_compile)
    logits, targets = make_logits(3, 20, torch.float32)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        compiled = softmax_stats(logits, targets, impl="compiled")
    eager = softmax_stats(logits, targets, impl="torch")
    for field in FIELDS:
        torch.testing.assert_close(getattr(compiled, field), getattr(eager, field))


def test_triton_kernels_are_interpreted(triton_interpreter):
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    from entropy_bench.kernels import linear_cross_entropy_triton, softmax_stats_triton

    assert isinstance(softmax_stats_triton._forward_kernel, InterpretedFunction)
    assert isinstance(linear_cross_entropy_triton._backward_kernel, InterpretedFunction)
    assert isinstance(tl.zeros, InterpretedFunction)  # triton.language itself was imported interpreted
