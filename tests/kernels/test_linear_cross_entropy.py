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


def test_all_ignored_mean_is_nan_like_pytorch():
    hidden, weight, _, _ = make_inputs(3, 8, 10, torch.float32, bias=False)
    targets = torch.full((3,), -100)
    assert linear_cross_entropy(hidden, weight, targets).isnan()
    assert F.cross_entropy(hidden @ weight.T, targets).isnan()


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
