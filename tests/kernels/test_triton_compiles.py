"""The Triton kernels compile for a real GPU (sm_90) down to a cubin, without a GPU.

The interpreter accepts programs the compiler rejects (types, shapes, constexpr misuse), so
the kernels are also compiled ahead of time — in a subprocess, since the kernels of this
process are interpreted.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from entropy_bench.kernels import linear_cross_entropy_triton as lce, softmax_stats_triton as stats

INPUT_POINTERS = {"logits_ptr", "hidden_ptr", "weight_ptr", "bias_ptr", "grad_ptr"}
INDEX_POINTERS = {"targets_ptr", "argmax_ptr"}


def signature(kernel, dtype, constexprs):
    out = {}
    for param in kernel.params:
        name = param.name
        if param.is_constexpr:
            out[name] = "constexpr"
        elif name in INPUT_POINTERS:
            out[name] = "*" + dtype
        elif name in INDEX_POINTERS:
            out[name] = "*i64"
        else:
            out[name] = "*fp32" if name.endswith("_ptr") else "i32"
    assert set(constexprs) == {k for k, v in out.items() if v == "constexpr"}, kernel.fn.__name__
    return out


def compile_kernel(kernel, dtype, config):
    config = dict(config)
    num_warps = config.pop("num_warps")
    source = ASTSource(fn=kernel, signature=signature(kernel, dtype, config), constexprs=config)
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    assert compiled.asm["cubin"], kernel.fn.__name__


for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    compile_kernel(stats._forward_kernel, dtype, stats._launch_config(49152))
    compile_kernel(stats._backward_kernel, dtype, stats._launch_config(49152))
    config = lce._config(4096, 49152, 576, torch_dtype)
    compile_kernel(lce._forward_kernel, dtype, dict(config, HAS_BIAS=True, ENTROPY=True))
    flags = dict(HAS_BIAS=True, ENTROPY=True, GRAD_HIDDEN=True, GRAD_WEIGHT=True, GRAD_BIAS=True)
    compile_kernel(lce._backward_kernel, dtype, dict(config, **flags))
print("compiled")
"""


def test_kernels_compile_for_sm90(triton_interpreter):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if "No module named" in proc.stderr and "backends" in proc.stderr:
        pytest.skip("this triton build has no CUDA backend")
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-3000:]
