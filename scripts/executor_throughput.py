#!/usr/bin/env python
"""The default sweep under ``--executor local`` and ``--executor ray`` (2 workers), side by side.

Each run starts from a fresh MLflow store and a fresh cache, so both generate every answer; the
Ray run starts its local cluster inside the timed region (as ``bench run --executor ray`` does)
and its actors each load the model once. The local process computes on 2 threads, each Ray actor
on 1 (Ray sets ``OMP_NUM_THREADS`` to an actor's CPUs), so their floats may differ in the last
bits (a matrix product's sums split differently); the report gives the largest difference between
the two tables' numbers and whether their accuracies are equal::

    BENCH_DATA_DIR=../shared/data python scripts/executor_throughput.py --out results/scaleout

writes ``executor_throughput.md`` and ``.json``: wall seconds, cells per minute, and the Ray
path's overhead (its time over the local one's, minus 1).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(executor: str, folder: Path, sweep: str) -> dict:
    command = [sys.executable, "-m", "entropy_bench.cli", "run", sweep, "--no-progress", "--format", "csv",
               "--tracking-uri", f"sqlite:///{folder / 'runs.db'}", "--cache-dir", str(folder / "cache"),
               "--executor", executor, "--workers", "2"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, check=True)
    summary = next(line for line in done.stderr.splitlines() if line.startswith("sweep '"))
    return {"executor": executor, "seconds": time.perf_counter() - start, "table": done.stdout, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="default")
    parser.add_argument("--out", type=Path, default=Path("results/scaleout"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for executor in ("local", "ray"):
            folder = Path(tmp) / executor
            folder.mkdir()
            results.append(run(executor, folder, args.sweep))
    cells = int(results[0]["summary"].split("': ")[1].split(" cells")[0])
    local, ray = results
    rows = [{"executor": r["executor"], "workers": 1 if r["executor"] == "local" else 2, "seconds": round(r["seconds"], 1),
             "cells_per_minute": round(60 * cells / r["seconds"], 2)} for r in results]
    report = {"sweep": args.sweep, "cells": cells, "cpus": os.cpu_count(), "runs": rows,
              "ray_overhead": round(ray["seconds"] / local["seconds"] - 1, 3), **compare(local["table"], ray["table"])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "executor_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# `{args.sweep}` sweep: local vs Ray executor ({cells} cells, {os.cpu_count()} CPUs)", "",
             "| executor | workers | seconds | cells / minute |", "|---|---|---|---|"]
    lines += [f"| {r['executor']} | {r['workers']} | {r['seconds']} | {r['cells_per_minute']} |" for r in rows]
    lines += ["", f"Ray path time relative to local: {report['ray_overhead']:+.1%}. Tables: accuracies equal: "
              f"{report['accuracy_equal']}; largest difference of any number: {report['max_abs_difference']:.2e}.", "",
              "Command: `BENCH_DATA_DIR=../shared/data python "
              "scripts/executor_throughput.py --out results/scaleout`"]
    (args.out / "executor_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not report["accuracy_equal"]:
        sys.exit(1)


def compare(local: str, ray: str) -> dict:
    """The largest absolute difference between the two CSV tables' numbers, and whether their
    accuracy columns are equal."""
    import pandas as pd

    a, b = pd.read_csv(io.StringIO(local)), pd.read_csv(io.StringIO(ray))
    numbers = a.select_dtypes("number").columns
    accuracy = [c for c in numbers if c.startswith("accuracy")]
    return {"max_abs_difference": float((a[numbers] - b[numbers]).abs().max().max()),
            "accuracy_equal": bool(a[accuracy].equals(b[accuracy]))}


if __name__ == "__main__":
    main()
