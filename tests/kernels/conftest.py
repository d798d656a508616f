"""Kernel tests: Triton kernels run in the interpreter, on CPU tensors.

``TRITON_INTERPRET=1`` must be set before ``triton.language`` is imported (its own jit'd
functions) and before ``triton.jit`` decorates a kernel: ``tests/conftest.py`` sets it, before
any test module is imported; ``test_triton_kernels_are_interpreted`` checks it.

Triton 3.5.1's interpreter converts a 1-element array to an int with ``int(array)``, which
NumPy ≥ 2.4 rejects, so every ``range`` over a runtime bound fails (triton-lang/triton#9171,
fixed upstream by squeezing first); the patch below applies that fix.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

if importlib.util.find_spec("triton") is not None:
    from triton.runtime import interpreter

    _patch_lang_tensor = interpreter._patch_lang_tensor

    def _patch_lang_tensor_numpy_2_4(tensor):
        _patch_lang_tensor(tensor)
        tensor.__index__ = lambda self: int(self.handle.data.squeeze())

    interpreter._patch_lang_tensor = _patch_lang_tensor_numpy_2_4


@pytest.fixture
def triton_interpreter():
    """Skip where triton is missing; the kernels run interpreted (TRITON_INTERPRET=1 above)."""
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed")


@pytest.fixture
def within_lowprec():
    return _assert_within_lowprec


def _assert_within_lowprec(ours, ref_fp32, ref_lowprec, tol, name="", dtype=torch.float32):
    """The tolerance rule of Liger-Kernel / Cut Cross-Entropy tests:
    |ref_fp32 − ours| ≤ max |ref_fp32 − ref_lowprec| + tol + ε_dtype · max |ref_fp32|,
    elementwise, the maxima taken over the tensor: ours may not be worse than the low-precision
    reference's worst error (both round to ``dtype`` on the way, but not on the same elements),
    give or take one ``dtype`` ulp at the tensor's scale. ``tol`` is a number or a tensor
    broadcast to the values. Infinities must match exactly."""
    ours, ref_fp32, ref_lowprec = (t.detach().double() for t in (ours, ref_fp32, ref_lowprec))
    assert ours.shape == ref_fp32.shape, name
    infinite = ref_fp32.isinf()
    assert torch.equal(ours[infinite], ref_fp32[infinite]), f"{name}: infinities differ"
    error = (ref_fp32 - ours).abs()[~infinite]
    lowprec_error = (ref_fp32 - ref_lowprec).abs()[~infinite]
    tol = torch.as_tensor(tol, dtype=torch.float64).expand(ref_fp32.shape)[~infinite]
    scale = ref_fp32[~infinite].abs().max() if error.numel() else 0.0
    allowed = (lowprec_error.max() if lowprec_error.numel() else 0.0) + tol + torch.finfo(dtype).eps * scale
    worst = (error - allowed).argmax() if error.numel() else None
    assert error.numel() == 0 or bool((error <= allowed).all()), (
        f"{name}: error {error[worst].item():.3g} > allowed {allowed[worst].item():.3g}"
    )
