"""Several `bench run` processes on one store: a client killed mid-sweep leaves its cell to the
others, a client starting up never deletes a live client's in-flight run, and every cell ends
with exactly one FINISHED child run whose metrics equal a single-process run's."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.tracking import CELL_TAG, OWNER_TAG, PARENT_ID_TAG

from sweep_fixtures import tiny_sweep, write

SPEC = dict(
    name="shared",
    limit=48,
    seeds=[0, 1, 2],
    tasks=[{"name": "arithmetic", "limit": 48, "max_new_tokens": 12, "num_fewshot": 1}],
    decoders=["greedy", {"name": "temperature", "temperature": 0.7}, {"name": "top_k", "top_k": 5}],
)


def bench_run(spec_path, uri, cache, cwd):
    cmd = [sys.executable, "-m", "entropy_bench.cli", "run", str(spec_path), "--tracking-uri", uri,
           "--cache-dir", str(cache), "--no-progress"]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def children(uri, view=ViewType.ACTIVE_ONLY):
    if not Path(uri.removeprefix("sqlite:///")).exists():  # not yet: the clients create it (atomically)
        return []
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("shared")
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], max_results=1000, run_view_type=view)
    return [r for r in runs if PARENT_ID_TAG in r.data.tags]


def owner_pid(run):
    return json.loads(run.data.tags.get(OWNER_TAG, "{}")).get("pid")


def in_flight_of(uri, pid, timeout=120.0):
    """The first RUNNING child run owned by process ``pid`` (waits for one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in children(uri):
            if run.info.status == "RUNNING" and owner_pid(run) == pid:
                return run
        time.sleep(0.05)
    pytest.fail(f"process {pid} never held a cell")


def quality(run):
    return {k: v for k, v in run.data.metrics.items() if not k.startswith("cost/")}


@pytest.mark.slow
def test_killed_client_and_late_starter_leave_one_finished_run_per_cell(tiny_model_dir, tmp_path):
    spec = tiny_sweep(tiny_model_dir, **SPEC)
    spec_path = write(spec, tmp_path / "sweep.yaml")
    n_cells = len(sweep.expand(sweep.parse(spec)))

    ref_uri = f"sqlite:///{tmp_path / 'ref.db'}"
    ref = bench_run(spec_path, ref_uri, tmp_path / "ref-cache", tmp_path)
    assert ref.wait(timeout=600) == 0, ref.stderr.read().decode()[-2000:]
    expected = {r.data.tags[CELL_TAG]: quality(r) for r in children(ref_uri)}
    assert len(expected) == n_cells

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    cache = tmp_path / "cache"
    a = bench_run(spec_path, uri, cache, tmp_path)
    b = bench_run(spec_path, uri, cache, tmp_path)
    killed = in_flight_of(uri, a.pid)
    os.killpg(a.pid, signal.SIGKILL)  # A dies holding a cell
    a.wait(timeout=60)
    killed_status = MlflowClient(uri).get_run(killed.info.run_id).info.status

    survivor = in_flight_of(uri, b.pid)  # B is mid-cell while C starts up
    c = bench_run(spec_path, uri, cache, tmp_path)
    for proc in (b, c):
        assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-2000:]

    client = MlflowClient(uri)
    assert client.get_run(survivor.info.run_id).info.status == "FINISHED"
    if killed_status == "RUNNING":  # A died holding it: stale, so deleted and redone by B or C
        assert client.get_run(killed.info.run_id).info.lifecycle_stage == "deleted"
    deleted = children(uri, ViewType.DELETED_ONLY)
    assert {owner_pid(r) for r in deleted} <= {a.pid}  # no live client's run was ever deleted
    kids = children(uri)
    assert sorted(r.data.tags[CELL_TAG] for r in kids) == sorted(expected)  # exactly one run per cell
    assert all(r.info.status == "FINISHED" for r in kids)
    for run in kids:
        assert quality(run) == pytest.approx(expected[run.data.tags[CELL_TAG]])
