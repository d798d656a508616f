"""A sweep killed with SIGKILL at a random instant resumes to the same results, with exactly
one parent run and one FINISHED child run per cell."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.tracking import CELL_TAG, PARENT_ID_TAG

from sweep_fixtures import tiny_sweep, write

SPEC_OVERRIDES = dict(
    limit=16,
    seeds=[0, 1, 2],
    decoders=["greedy", {"name": "temperature", "temperature": 0.7}],
)


def bench_run(spec_path, uri, cache, cwd):
    cmd = [sys.executable, "-m", "entropy_bench.cli", "run", str(spec_path), "--tracking-uri", uri,
           "--cache-dir", str(cache), "--no-progress"]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def cell_metrics(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("resume")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    kids = [r for r in runs if PARENT_ID_TAG in r.data.tags]
    parents = [r for r in runs if PARENT_ID_TAG not in r.data.tags]
    return kids, parents


def quality(run):
    return {k: v for k, v in run.data.metrics.items() if not k.startswith("cost/")}


@pytest.mark.slow
def test_sigkill_then_rerun_gives_one_child_per_cell(tiny_model_dir, tmp_path):
    spec = tiny_sweep(tiny_model_dir, name="resume", **SPEC_OVERRIDES)
    spec_path = write(spec, tmp_path / "sweep.yaml")
    n_cells = len(sweep.expand(sweep.parse(spec)))

    ref_uri = f"sqlite:///{tmp_path / 'ref.db'}"
    start = time.monotonic()
    ref = bench_run(spec_path, ref_uri, tmp_path / "ref-cache", tmp_path)
    assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()[-2000:]
    duration = time.monotonic() - start
    ref_kids, _ = cell_metrics(ref_uri)
    expected = {r.data.tags[CELL_TAG]: quality(r) for r in ref_kids}
    assert len(expected) == n_cells

    rng = random.Random(os.environ.get("BENCH_KILL_SEED", time.time_ns()))
    uri = f"sqlite:///{tmp_path / 'killed.db'}"
    cache = tmp_path / "cache"
    for attempt in range(3):  # kill at random instants, several times over the same store
        proc = bench_run(spec_path, uri, cache, tmp_path)
        delay = rng.uniform(0.3, duration)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)

    final = bench_run(spec_path, uri, cache, tmp_path)
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()[-2000:]
    kids, parents = cell_metrics(uri)
    assert len(parents) == 1
    assert sorted(r.data.tags[CELL_TAG] for r in kids) == sorted(expected)
    assert all(r.info.status == "FINISHED" for r in kids)
    for run in kids:
        assert quality(run) == pytest.approx(expected[run.data.tags[CELL_TAG]])
