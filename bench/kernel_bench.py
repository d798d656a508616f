"""Kernel benchmark: time and peak memory of the kernels against their baselines.

One row per (op, shape, dtype, implementation); a shape is (tokens N, vocabulary V, hidden D),
real vocabularies with their models' hidden sizes by default. Ops:

- ``softmax_stats``: forward of :func:`entropy_bench.kernels.softmax_stats.softmax_stats` on
  logits[N, V] (lse, entropy, varentropy, max log-prob, target log-prob). ``bytes_read`` is
  N·V·itemsize (one read of the logits); ``read_gbps`` = bytes_read / median time, and
  ``bandwidth_fraction`` divides it by this machine's memory-read bandwidth, measured here as
  the rate of ``torch.sum`` over a 1 GiB fp32 tensor (with the same number of threads).
- ``linear_cross_entropy``: forward + backward of CE(h[N, D] W[V, D]ᵀ, y) (mean reduction);
  ``gflops`` counts the three matmuls, 6·N·V·D.

Implementations: ``ours:triton`` / ``ours:torch`` / ``ours:compiled`` (our kernels'
``impl``), ``eager`` (softmax_stats: log_softmax, exp, products, sums, max and gather as
separate ops; linear_cross_entropy: materialised logits + ``F.cross_entropy``),
``torch.compile`` (the eager function compiled), ``liger`` (Liger-Kernel's fused linear
cross-entropy) and ``cce`` (Cut Cross-Entropy). What cannot run here (no GPU, package
missing, no equivalent op) gets a ``skipped`` row with the reason.

Each row is measured in two fresh Python subprocesses. Time: a first call (compilation,
allocator warm-up; its time is ``first_call_s``), then ``repeats`` timed calls (median, 20 % and
80 % quantiles). Peak memory (``memory_method`` says how), after one warm-up call: on CUDA
``torch.cuda.max_memory_allocated``; on CPU the rise of the process's resident-set high-water
mark (``VmHWM``, reset through ``/proc/self/clear_refs``) over the resident set before the
call, in a process started with ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536`` so that
every allocation ≥ 64 KiB is an ``mmap`` returned on free (with glibc's default, freed chunks
stay in the heap and their reuse is counted as new). The figure is then the peak of live
allocations, torch's and everyone else's (BLAS workspaces, compiled code). ``grad_bytes`` is
the size of the gradients the call returns, which every implementation must allocate.

Results: a CSV under ``out_dir`` and one MLflow run (experiment ``kernels``) with the CSV as
artifact.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

OPS = ("softmax_stats", "linear_cross_entropy")
IMPLEMENTATIONS = ("ours:triton", "ours:torch", "ours:compiled", "eager", "torch.compile", "liger", "cce")
# (tokens, vocabulary, hidden): SmolLM2-135M, Llama-3.2-1B, Gemma-3-1B heads; N kept modest on
# CPU for the big vocabularies so that every row fits in memory and a few seconds.
SHAPES_CPU = ((4096, 49152, 576), (256, 128256, 2048), (256, 262144, 1152))
SHAPES_CUDA = ((16384, 49152, 576), (8192, 128256, 2048), (8192, 262144, 1152))
BANDWIDTH_BYTES = 1 << 30  # well beyond the last-level cache
MALLOC_TUNABLE = "glibc.malloc.mmap_threshold=65536"
MEMORY_METHOD = {
    "cuda": "torch.cuda.max_memory_allocated",
    "cpu": f"VmHWM-VmRSS in a fresh subprocess with {MALLOC_TUNABLE}",
}


def run_kernel_benchmark(
    ops: Sequence[str] = OPS,
    shapes: Sequence[tuple[int, int, int]] | None = None,
    dtypes: Sequence[str] = ("float32",),
    implementations: Sequence[str] = IMPLEMENTATIONS,
    repeats: int = 5,
    out_dir: str | Path = "results/kernels",
    tracking_uri: str | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Measure every (op, shape, dtype, implementation); write the CSV and log an MLflow run.

    ``shapes`` are (tokens, vocabulary, hidden) triples (default: :data:`SHAPES_CUDA` on a GPU,
    :data:`SHAPES_CPU` otherwise); ``dtypes`` are torch dtype names; ``threads`` sets
    ``torch.set_num_threads`` in every measurement (default: torch's choice). Returns the rows.
    """
    import torch

    for name, given, known in (("ops", ops, OPS), ("implementations", implementations, IMPLEMENTATIONS)):
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown {name} {unknown}; known: {', '.join(known)}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shapes = shapes or (SHAPES_CUDA if device == "cuda" else SHAPES_CPU)
    environment = _environment(device, threads or torch.get_num_threads())
    rows = []
    for op in ops:
        for shape in shapes:
            for dtype in dtypes:
                for implementation in implementations:
                    spec = {"op": op, "shape": list(shape), "dtype": dtype, "implementation": implementation,
                            "repeats": repeats, "device": device, "threads": environment["threads"]}  # fmt: skip
                    reason = _skip_reason(op, implementation, device)
                    result = {"status": "skipped", "reason": reason} if reason else measure_in_subprocess(spec)
                    rows.append(_row(spec, result, environment))
    table = _add_ratios(pd.DataFrame(rows))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"kernels_{environment['timestamp']}_{device}.csv"
    table.to_csv(csv_path, index=False)
    _log_mlflow(table, csv_path, environment, tracking_uri)
    return table


def _environment(device: str, threads: int) -> dict:
    import torch

    versions = {}
    for package in ("torch", "triton", "liger-kernel", "cut-cross-entropy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = ""
    return {
        "timestamp": datetime.datetime.now().strftime("%Y%m%d-%H%M%S"),
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else _cpu_model(),
        "threads": threads,
        "load_average_1min": os.getloadavg()[0],  # other processes sharing the cores skew the times
        "torch_version": versions["torch"],
        "triton_version": versions["triton"],
        "liger_version": versions["liger-kernel"],
        "cce_version": versions["cut-cross-entropy"],
        "memory_bandwidth_gbps": _memory_bandwidth_gbps(device, threads),
        "memory_method": MEMORY_METHOD[device],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bandwidth_gbps(device: str, threads: int, repeats: int = 5) -> float:
    """Read bandwidth: bytes / median time of ``torch.sum`` over :data:`BANDWIDTH_BYTES` of fp32
    (on CPU with ``threads`` threads, as the measurements)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = torch.ones(BANDWIDTH_BYTES // 4, device=device)
        return data.numel() * 4 / float(np.median(_times(lambda: data.sum(), repeats, device))) / 1e9
    finally:
        torch.set_num_threads(previous)


def _times(fn: Callable[[], object], repeats: int, device: str, reset: Callable[[], None] = lambda: None) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn``, each after an untimed ``reset()``."""
    import torch

    out = []
    for _ in range(repeats):
        reset()
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - start)
    return out


def _skip_reason(op: str, implementation: str, device: str) -> str | None:
    if implementation == "ours:triton" and device != "cuda":
        return "needs a CUDA GPU: Triton has no CPU backend (its interpreter only serves the tests)"
    if implementation in ("liger", "cce"):
        if op != "linear_cross_entropy":
            return f"{implementation} has no {op} op"
        module = {"liger": "liger_kernel", "cce": "cut_cross_entropy"}[implementation]
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
        if device != "cuda":
            return f"{module} runs Triton kernels and needs a CUDA GPU"
    return None


def measure_in_subprocess(spec: dict) -> dict:
    result = {}
    for phase in ("time", "memory"):
        env = dict(os.environ)
        if phase == "memory":
            env["GLIBC_TUNABLES"] = ":".join(filter(None, (env.get("GLIBC_TUNABLES"), MALLOC_TUNABLE)))
        code = f"from entropy_bench.kernel_bench import _worker; _worker({json.dumps({**spec, 'phase': phase})!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"status": "failed", "reason": f"{phase}: exit {proc.returncode}: {error}"}
        result.update(json.loads(lines[-1]))
    return {"status": "ok", "reason": "", **result}


def _worker(spec_json: str) -> None:
    """Runs in a subprocess: one phase ("time" or "memory") of one row, printed as JSON on the
    last line of stdout."""
    import torch

    spec = json.loads(spec_json)
    device = spec["device"]
    torch.set_num_threads(spec["threads"])
    call, grads, reset = _build(spec["op"], spec["implementation"], *spec["shape"], getattr(torch, spec["dtype"]), device)
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    if spec["phase"] == "memory":
        reset()
        print(json.dumps({"peak_bytes": _peak_bytes(call, device)}))
        return
    p20, median, p80 = np.percentile(_times(call, spec["repeats"], device, reset), [20, 50, 80]) * 1e3
    print(json.dumps({
        "first_call_s": first, "median_ms": median, "p20_ms": p20, "p80_ms": p80,
        "grad_bytes": sum(g.numel() * g.element_size() for g in grads()),
    }))  # fmt: skip


def _peak_bytes(call: Callable[[], object], device: str) -> int:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        call()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = _status_kib("VmRSS")
    call()
    return 1024 * (_status_kib("VmHWM") - before)


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1))


def _build(op: str, implementation: str, tokens: int, vocab: int, hidden: int, dtype, device: str):
    """Zero-argument callables: run the op once; return its gradients; drop them (before a call,
    so that every call allocates its gradients)."""
    import torch

    generator = torch.Generator(device=device).manual_seed(0)
    targets = torch.randint(0, vocab, (tokens,), device=device, generator=generator)
    if op == "softmax_stats":
        logits = (3 * torch.randn(tokens, vocab, device=device, generator=generator)).to(dtype)
        fn = _softmax_stats_fn(implementation)
        return (lambda: fn(logits, targets)), list, (lambda: None)
    hidden_states = torch.randn(tokens, hidden, device=device, generator=generator).to(dtype).requires_grad_()
    weight = (torch.randn(vocab, hidden, device=device, generator=generator) / hidden**0.5).to(dtype).requires_grad_()
    loss_fn = _linear_cross_entropy_fn(implementation)

    def reset():
        hidden_states.grad = weight.grad = None

    return (
        lambda: loss_fn(hidden_states, weight, targets).backward(),
        lambda: [hidden_states.grad, weight.grad],
        reset,
    )


def _multipass_softmax_stats(logits, targets):
    """The eager baseline: one op (and one pass over [N, V]) per quantity."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    p = logp.exp()
    p_logp = p * logp
    entropy = -p_logp.sum(-1)
    varentropy = (p_logp * logp).sum(-1) - entropy * entropy
    return torch.logsumexp(logits, -1), entropy, varentropy, logp.max(-1).values, logp.gather(-1, targets[:, None])


def _naive_linear_cross_entropy(hidden, weight, targets):
    import torch.nn.functional as F

    return F.cross_entropy(hidden @ weight.T, targets)


def _softmax_stats_fn(implementation: str):
    import torch

    from entropy_bench.kernels.softmax_stats import softmax_stats

    if implementation.startswith("ours:"):
        impl = implementation.split(":", 1)[1]
        return lambda logits, targets: softmax_stats(logits, targets, impl=impl)
    if implementation == "eager":
        return _multipass_softmax_stats
    return torch.compile(_multipass_softmax_stats)


def _linear_cross_entropy_fn(implementation: str):
    import torch

    from entropy_bench.kernels.linear_cross_entropy import linear_cross_entropy

    if implementation.startswith("ours:"):
        impl = implementation.split(":", 1)[1]
        return lambda hidden, weight, targets: linear_cross_entropy(hidden, weight, targets, impl=impl)
    if implementation == "eager":
        return _naive_linear_cross_entropy
    if implementation == "torch.compile":
        return torch.compile(_naive_linear_cross_entropy)
    if implementation == "liger":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        liger = LigerFusedLinearCrossEntropyLoss()
        return lambda hidden, weight, targets: liger(weight, hidden, targets)
    from cut_cross_entropy import linear_cross_entropy as cce

    return lambda hidden, weight, targets: cce(hidden, weight, targets)


def _row(spec: dict, result: dict, environment: dict) -> dict:
    tokens, vocab, hidden = spec["shape"]
    row = {
        "op": spec["op"], "shape": f"{tokens}x{vocab}x{hidden}", "tokens": tokens, "vocab": vocab,
        "hidden": hidden, "dtype": spec["dtype"], "implementation": spec["implementation"],
        "status": result["status"], "reason": result.get("reason", ""), "repeats": spec["repeats"],
    }  # fmt: skip
    for key in ("median_ms", "p20_ms", "p80_ms", "first_call_s", "peak_bytes", "grad_bytes"):
        row[key] = result.get(key)
    itemsize = {"float32": 4, "float64": 8}.get(spec["dtype"], 2)
    if spec["op"] == "softmax_stats":
        row["bytes_read"] = tokens * vocab * itemsize
        if row["median_ms"]:
            row["read_gbps"] = row["bytes_read"] / row["median_ms"] / 1e6
            row["bandwidth_fraction"] = row["read_gbps"] / environment["memory_bandwidth_gbps"]
    elif row["median_ms"]:
        row["gflops"] = 6 * tokens * vocab * hidden / row["median_ms"] / 1e6
    row.update({k: v for k, v in environment.items() if k != "timestamp"})
    return row


def _add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Against the ``eager`` row of the same (op, shape, dtype): ``speedup_vs_eager`` = eager
    median / median, ``peak_ratio_vs_eager`` = peak / eager peak, and
    ``workspace_ratio_vs_eager`` the same ratio without the gradients both must return."""
    keys = ["op", "shape", "dtype"]
    eager = table[(table.implementation == "eager") & (table.status == "ok")][keys + ["median_ms", "peak_bytes"]]
    merged = table.merge(eager, on=keys, how="left", suffixes=("", "_eager"))
    merged["speedup_vs_eager"] = merged["median_ms_eager"] / merged["median_ms"]
    merged["peak_ratio_vs_eager"] = merged["peak_bytes"] / merged["peak_bytes_eager"]
    merged["workspace_ratio_vs_eager"] = (merged["peak_bytes"] - merged["grad_bytes"]) / (
        merged["peak_bytes_eager"] - merged["grad_bytes"]
    )
    return merged.drop(columns=["median_ms_eager", "peak_bytes_eager"])


def _log_mlflow(table: pd.DataFrame, csv_path: Path, environment: dict, tracking_uri: str | None) -> None:
    from mlflow.tracking import MlflowClient

    from entropy_bench.tracking import resolve_tracking_uri

    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    found = client.get_experiment_by_name("kernels")
    experiment_id = found.experiment_id if found else client.create_experiment("kernels")
    run = client.create_run(experiment_id, run_name=f"kernels {environment['timestamp']}")
    run_id = run.info.run_id
    for key, value in environment.items():
        client.log_param(run_id, key, value)
    for name in ("op", "shape", "dtype", "implementation"):
        client.log_param(run_id, f"{name}s", ",".join(dict.fromkeys(table[name].astype(str))))
    for record in table[table.status == "ok"].to_dict("records"):
        prefix = f"{record['op']}/{record['shape']}/{record['dtype']}/{record['implementation']}".replace(":", "-")
        for metric in ("median_ms", "peak_bytes", "speedup_vs_eager", "peak_ratio_vs_eager", "workspace_ratio_vs_eager",
                       "bandwidth_fraction"):  # fmt: skip
            value = record.get(metric)
            if value is not None and not math.isnan(value):
                client.log_metric(run_id, f"{prefix}/{metric}", float(value))
    client.log_artifact(run_id, str(csv_path))
    client.set_terminated(run_id)
