"""linear_cross_entropy against materialised logits + F.cross_entropy, on odd shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from entropy_bench.kernels import linear_cross_entropy as module
from entropy_bench.kernels.linear_cross_entropy import linear_cross_entropy

# (N, D, V): D and V not multiples of the Triton blocks (64, 128), one row, an ignore_index mask
CASES = {
    "smoothing-zloss-bias-mean": dict(shape=(37, 40, 300), bias=True, label_smoothing=0.1, z_loss=1e-3, reduction="mean"),
    "one-row-sum": dict(shape=(1, 16, 70), bias=False, label_smoothing=0.0, z_loss=0.0, reduction="sum"),
    "none-ignore3": dict(shape=(37, 40, 300), bias=False, label_smoothing=0.0, z_loss=0.0, reduction="none", ignore_index=3),
    "entropy-mean": dict(shape=(20, 24, 130), bias=True, label_smoothing=0.2, z_loss=1e-2, reduction="mean", return_entropy=True),
}  # fmt: skip
TOL = {"loss": 1e-5, "grad": 4e-6}


def make_inputs(rows, dim, vocab, dtype, bias, ignore_index=-100, seed=0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, dim, generator=generator).to(dtype)
    weight = (torch.randn(vocab, dim, generator=generator) / dim**0.25).to(dtype)
    bias_ = torch.randn(vocab, generator=generator).to(dtype) if bias else None
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    if rows > 1:
        targets[::4] = ignore_index
    return hidden, weight, bias_, targets


def naive(hidden, weight, targets, bias=None, *, ignore_index=-100, label_smoothing=0.0, z_loss=0.0,
          reduction="mean", return_entropy=False, dtype=torch.float32):  # fmt: skip
    """Materialised logits in ``dtype`` + F.cross_entropy + PaLM's z-loss."""
    hidden, weight = hidden.to(dtype), weight.to(dtype)
    logits = hidden @ weight.T if bias is None else torch.addmm(bias.to(dtype), hidden, weight.T)
    loss = F.cross_entropy(logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")
    valid = targets != ignore_index
    loss = loss + z_loss * torch.where(valid, logits.logsumexp(-1).square(), 0.0)
    if reduction != "none":
        loss = loss.sum() / (valid.sum() if reduction == "mean" else 1)
    if not return_entropy:
        return loss
    logp = logits.log_softmax(-1)
    return loss, -(logp.exp() * logp).sum(-1)


def run(fn, inputs, targets, options, seed=2):
    """Outputs and gradients of (upstream · loss [+ upstream' · entropy]) for the inputs."""
    leaves = [None if t is None else t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*leaves[:2], targets, leaves[2], **options)
    outputs = out if isinstance(out, tuple) else (out,)
    generator = torch.Generator().manual_seed(seed)
    total = sum((torch.randn(o.shape, generator=generator) * o).sum() for o in outputs)
    total.backward()
    return outputs, [None if t is None else t.grad for t in leaves]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", ["torch", "triton"])
def test_matches_naive(impl, case, dtype, within_lowprec, request):
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")
    options = dict(CASES[case])
    rows, dim, vocab = options.pop("shape")
    *inputs, targets = make_inputs(rows, dim, vocab, dtype, options.pop("bias"), options.get("ignore_index", -100))
    ref32, grads32 = run(naive, [None if t is None else t.float() for t in inputs], targets, options)
    low, grads_low = run(lambda *a, **k: naive(*a, **k, dtype=dtype), inputs, targets, options)
    ours, grads = run(lambda *a, **k: linear_cross_entropy(*a, **k, impl=impl), inputs, targets, options)
    for name, a, b, c in zip(("loss", "entropy"), ours, ref32, low):
        within_lowprec(a, b, c, TOL["loss"], name, dtype)
    for name, a, b, c in zip(("hidden", "weight", "bias"), grads, grads32, grads_low):
        if b is not None:
            assert a.dtype == dtype
            within_lowprec(a, b, c, TOL["grad"], f"grad {name}", dtype)


@pytest.mark.parametrize(
    "options",
    [
        dict(reduction="mean", label_smoothing=0.3, z_loss=0.05, scale=2.5),  # gradients during the forward
        dict(reduction="none", label_smoothing=0.3, z_loss=0.05, return_entropy=True, scale=1.0),  # recomputed
    ],
    ids=["grads-in-forward", "grads-in-backward"],
)
def test_gradcheck_fp64(options, monkeypatch):
    monkeypatch.setattr(module, "CHUNK_BYTES", 4 * 7 * 2)  # two rows per block: several blocks
    options = dict(options)
    scale = options.pop("scale")
    hidden, weight, bias, targets = make_inputs(5, 4, 7, torch.float64, bias=True)

    def fn(hidden, weight, bias):
        out = linear_cross_entropy(hidden, weight, targets, bias, impl="torch", **options)
        return tuple(scale * o for o in out) if isinstance(out, tuple) else scale * out

    inputs = tuple(t.requires_grad_() for t in (hidden, weight, bias))
    assert torch.autograd.gradcheck(fn, inputs)


def test_only_some_inputs_need_gradients():
    hidden, weight, _, targets = make_inputs(9, 8, 33, torch.float32, bias=False)
    hidden.requires_grad_()
    linear_cross_entropy(hidden, weight, targets, impl="torch").backward()
    reference = hidden.detach().clone().requires_grad_()
    naive(reference, weight, targets).backward()
    torch.testing.assert_close(hidden.grad, reference.grad)
    assert weight.grad is None


def test_no_grad_gives_the_same_loss():
    hidden, weight, bias, targets = make_inputs(9, 8, 33, torch.float32, bias=True)
    with torch.no_grad():
        loss = linear_cross_entropy(hidden, weight, targets, bias, label_smoothing=0.1)
    torch.testing.assert_close(loss, naive(hidden, weight, targets, bias, label_smoothing=0.1))


IMPLS = ["torch", "compiled", "triton"]


def assert_near(name, ours, reference, atol):
    torch.testing.assert_close(
        ours.double(), reference.double(), rtol=0, atol=atol, equal_nan=True, msg=lambda m: f"{name}: {m}"
    )


def impl_fixture(impl, request):
    if impl == "triton":
        request.getfixturevalue("triton_interpreter")


@pytest.mark.parametrize("return_entropy", [False, True], ids=["grads-in-forward", "grads-in-backward"])
@pytest.mark.parametrize("impl", IMPLS)
def test_all_ignored_mean_is_nan_with_zero_gradients_like_pytorch(impl, return_entropy, request):
    # F.cross_entropy's mean over no tokens is 0/0 = NaN, and its gradient is 0 (each row's
    # weight 1/#valid is never formed: every row is masked first). The loss stays NaN here too;
    # the gradients must be PyTorch's zeros, not NaN.
    impl_fixture(impl, request)
    hidden, weight, bias, _ = make_inputs(3, 8, 10, torch.float32, bias=True)
    targets = torch.full((3,), -100)
    options = dict(return_entropy=return_entropy)
    (ours, *_), grads = run(lambda *a, **k: linear_cross_entropy(*a, **k, impl=impl), [hidden, weight, bias], targets, options)
    (theirs, *_), reference = run(naive, [hidden, weight, bias], targets, options)
    assert ours.isnan() and theirs.isnan()
    for name, a, b in zip(("hidden", "weight", "bias"), grads, reference):
        assert not a.isnan().any(), name
        assert_near(name, a, b, 1e-6 if return_entropy else 0.0)
    if not return_entropy:
        assert all(bool((g == 0).all()) for g in grads)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("impl", IMPLS)
def test_no_rows(impl, reduction, request):
    # N = 0: PyTorch's mean is NaN, its sum 0, "none" empty; no gradient but zeros. The Triton
    # path used to divide by its number of row blocks on the host.
    impl_fixture(impl, request)
    hidden, weight, bias, _ = make_inputs(4, 8, 10, torch.float32, bias=True)
    hidden, targets = hidden[:0], torch.zeros(0, dtype=torch.long)
    options = dict(reduction=reduction, return_entropy=True)
    (loss, entropy), grads = run(lambda *a, **k: linear_cross_entropy(*a, **k, impl=impl), [hidden, weight, bias], targets, options)
    theirs = F.cross_entropy(hidden @ weight.T + bias, targets, reduction=reduction)
    torch.testing.assert_close(loss, theirs, equal_nan=True)
    assert entropy.shape == (0,)
    assert grads[0].shape == (0, 8) and (grads[1] == 0).all() and (grads[2] == 0).all()


def safe_naive(hidden, weight, targets, bias, *, reduction="none", return_entropy=True):
    """float64 logits + F.cross_entropy, and an entropy with 0 · log 0 = 0 (also in its gradient)."""
    logits = torch.addmm(bias.double(), hidden.double(), weight.double().T)
    loss = F.cross_entropy(logits, targets, reduction=reduction)
    logp = logits.log_softmax(-1)
    p = logp.exp()
    entropy = -(p * torch.where(p > 0, logp, 0.0)).sum(-1)
    return (loss, entropy) if return_entropy else loss


@pytest.mark.parametrize("impl", IMPLS)
def test_rows_that_are_minus_inf_but_one_or_two(impl, request):
    # A −inf bias masks the vocabulary: whole tiles (128 columns) of −inf logits, a row with a single
    # finite logit (entropy 0), and splits that are all −inf. The Triton path gave NaN entropies.
    impl_fixture(impl, request)
    hidden, weight, bias, targets = make_inputs(6, 16, 300, torch.float32, bias=True)
    bias = torch.full((300,), float("-inf"))
    bias[[7, 290]] = torch.tensor([0.5, -1.0])
    targets = torch.tensor([7, 290, 7, 7, 290, 290])
    one = torch.full((300,), float("-inf"))
    one[290] = 2.0
    for b in (bias, one):
        t = torch.where(b[targets].isfinite(), targets, 290)
        options = dict(reduction="none", return_entropy=True)
        ours, grads = run(lambda *a, **k: linear_cross_entropy(*a, **k, impl=impl), [hidden, weight, b], t, options)
        ref, reference = run(safe_naive, [hidden, weight, b], t, options)
        for name, x, y in zip(("loss", "entropy"), ours, ref):
            assert x.isfinite().all(), name
            assert_near(name, x, y, 2e-6)
        for name, x, y in zip(("hidden", "weight"), grads, reference):
            assert x.isfinite().all(), name
            assert_near(name, x, y, 2e-6)
    assert (ours[1] == 0).all()  # one finite logit: entropy 0 exactly


@pytest.fixture
def exact_fp32_matmuls():
    """Full-precision fp32 ``tl.dot``/matmuls (not TF32 on a GPU) for this test."""
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(precision)


@pytest.mark.parametrize("offset", [6e4, -6e4])
@pytest.mark.parametrize("impl", IMPLS)
def test_logits_at_plus_minus_6e4(impl, offset, request, exact_fp32_matmuls):
    # Logits offset ± 6e4 + a spread of ±16, all exact in fp32 (multiples of 1/16; the ulp at 6e4 is
    # 1/256), so the float64 answer is the exact one. An fp32 lse there is only good to 2e-3: the
    # loss (z_y − lse), the gradients (exp(z − lse)) and the Triton entropy (lse − m_k − c_k) were
    # off by 5e-4..2e-3; formed from z − max and log s they are good to fp32 rounding of O(1) values.
    impl_fixture(impl, request)
    generator = torch.Generator().manual_seed(0)
    rows, vocab = 21, 300
    hidden = torch.stack([torch.ones(rows), torch.randint(-4, 4, (rows,), generator=generator).float()], 1)
    weight = torch.stack([torch.zeros(vocab), torch.randint(-64, 64, (vocab,), generator=generator) / 16.0], 1)
    bias = offset + torch.randint(-64, 64, (vocab,), generator=generator) / 16.0
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    options = dict(reduction="none", return_entropy=True)
    ours, grads = run(lambda *a, **k: linear_cross_entropy(*a, **k, impl=impl), [hidden, weight, bias], targets, options)
    ref, reference = run(safe_naive, [hidden, weight, bias], targets, options)
    for name, x, y in zip(("loss", "entropy"), ours, ref):
        assert_near(name, x, y, 1e-6)
    for name, x, y in zip(("hidden", "weight", "bias"), grads, reference):
        assert_near(name, x, y, 1e-6 * y.abs().max().item())
    # the gradients-in-forward path (a scalar loss without the entropy)
    (mean,), grads = run(lambda *a, **k: linear_cross_entropy(*a, **k, impl=impl), [hidden, weight, bias], targets, {})
    reference_mean = lambda *a, **k: safe_naive(*a, **k, reduction="mean", return_entropy=False)  # noqa: E731
    (mean_ref,), reference = run(reference_mean, [hidden, weight, bias], targets, {})
    assert_near("mean", mean, mean_ref, 1e-6)
    for name, x, y in zip(("hidden", "weight", "bias"), grads, reference):
        assert_near(name, x, y, 1e-6 * y.abs().max().item())


def test_leading_dimensions():
    hidden, weight, _, targets = make_inputs(6, 8, 10, torch.float32, bias=False)
    loss, entropy = linear_cross_entropy(
        hidden.reshape(2, 3, 8), weight, targets.reshape(2, 3), reduction="none", return_entropy=True
    )
    assert loss.shape == entropy.shape == (2, 3)
    torch.testing.assert_close(loss.reshape(6), naive(hidden, weight, targets, reduction="none"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(reduction="avg"), "reduction"),
        (dict(label_smoothing=1.5), "label_smoothing"),
        (dict(z_loss=-1.0), "z_loss"),
        (dict(impl="gpu"), "impl"),
    ],
)
def test_invalid_arguments(kwargs, message):
    hidden, weight, _, targets = make_inputs(3, 8, 10, torch.float32, bias=False)
    with pytest.raises(ValueError, match=message):
        linear_cross_entropy(hidden, weight, targets, **kwargs)
    with pytest.raises(ValueError, match="expected hidden"):
        linear_cross_entropy(hidden, weight[:, :4], targets)
