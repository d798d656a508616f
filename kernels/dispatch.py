"""Which implementation of a kernel runs, and the helpers the CPU paths share.

Every kernel takes ``impl``:

- ``"torch"``    — chunked eager PyTorch: rows in blocks small enough to stay in L2;
- ``"compiled"`` — the same row functions through ``torch.compile`` (inductor emits fused,
  vectorised C++ on CPU: one read of each row from memory); falls back to ``"torch"``, with a
  warning, where compilation fails (no C++ compiler, unsupported platform);
- ``"triton"``   — the Triton kernel: CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``;
- ``"auto"``     — ``"triton"`` on CUDA when Triton is installed, else ``"compiled"`` for inputs
  of at least :data:`COMPILE_MIN_ELEMENTS` elements (where the one-off compile pays off; the
  result is cached on disk by inductor), else ``"torch"``.

Triton is imported only by the ``*_triton`` modules, and only when ``"triton"`` runs.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import os
import warnings
from collections.abc import Callable

import torch

IMPLS = ("auto", "torch", "compiled", "triton")
COMPILE_MIN_ELEMENTS = 1 << 25


def resolve_impl(impl: str, tensor: torch.Tensor, elements: int) -> str:
    """The concrete implementation for ``impl`` given the input ``tensor`` and the size of the
    work (``elements`` logits); raises ``ValueError`` for an unknown or unusable ``impl``."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        if tensor.is_cuda and triton_available():
            return "triton"
        return "compiled" if elements >= COMPILE_MIN_ELEMENTS else "torch"
    if impl == "triton":
        if not triton_available():
            raise ValueError("impl='triton' needs the triton package")
        if not tensor.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise ValueError("impl='triton' needs a CUDA tensor, or TRITON_INTERPRET=1 for CPU tensors")
        if tensor.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"impl='triton' supports float32, float16 and bfloat16, got {tensor.dtype}")
    return impl


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def exp_floor(dtype: torch.dtype) -> float:
    """A shift below which ``exp`` underflows to exactly 0 in ``dtype``.

    Clamping ``z − max`` to it leaves every non-zero probability unchanged and turns the
    ``−inf`` entries into a finite value whose weight is 0, so ``0 · log 0`` evaluates to 0.
    """
    return 2.0 * math.log(torch.finfo(dtype).tiny)


def row_blocks(rows: int, rows_per_block: int) -> list[slice]:
    """Split ``rows`` into ⌈rows / rows_per_block⌉ contiguous blocks of near-equal size.

    Balanced sizes keep every block above one row whenever ``rows ≥ 2``, so a compiled row
    function (dynamic shapes, which specialise sizes 0 and 1) compiles once.
    """
    count = max(1, -(-rows // max(1, rows_per_block)))
    bounds = [rows * i // count for i in range(count + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


_COMPILED: dict[Callable, Callable] = {}


def compiled(fn: Callable) -> Callable:
    """``fn`` through ``torch.compile(dynamic=True)``; after a failed compilation, ``fn`` itself.

    Compiled functions are cached per ``fn`` (inductor also caches its code on disk, so a new
    process pays tracing, not C++ compilation).
    """

    def call(*args):
        runner = _COMPILED.get(fn)
        if runner is None:
            runner = _COMPILED[fn] = torch.compile(fn, dynamic=True)
        if runner is fn:
            return fn(*args)
        try:
            return runner(*args)
        except torch._dynamo.exc.TorchDynamoException as err:
            warnings.warn(f"torch.compile of {fn.__name__} failed, using eager PyTorch: {err}", RuntimeWarning)
            _COMPILED[fn] = fn
            return fn(*args)

    return call
