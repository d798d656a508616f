"""The store survives what users do to it: a kill at any instant of the very first run on a new
store, and several `bench run` started at once, on a new store and on an existing one."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.tracking import CELL_TAG, PARENT_ID_TAG, SWEEP_TAG

from sweep_fixtures import tiny_sweep, write


def bench_run(spec_path, uri, cache, cwd):
    cmd = [sys.executable, "-m", "entropy_bench.cli", "run", str(spec_path), "--tracking-uri", uri,
           "--cache-dir", str(cache), "--no-progress"]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if PARENT_ID_TAG not in r.data.tags], [r for r in runs if PARENT_ID_TAG in r.data.tags]


def assert_one_parent_and_one_finished_child_per_cell(uri, spec):
    parents, kids = runs_of(uri, spec["name"])
    keys = sorted(c.key for c in sweep.expand(sweep.parse(spec)))
    assert len(parents) == 1
    assert sorted(r.data.tags[CELL_TAG] for r in kids) == keys
    assert all(r.info.status == "FINISHED" for r in kids)


@pytest.mark.slow
def test_a_kill_during_the_first_run_on_a_new_store_never_breaks_it(tiny_model_dir, tmp_path):
    spec = tiny_sweep(tiny_model_dir, name="first", limit=2, decoders=["greedy"])
    spec_path = write(spec, tmp_path / "sweep.yaml")
    start = time.monotonic()
    probe = bench_run(spec_path, f"sqlite:///{tmp_path / 'probe.db'}", tmp_path / "probe-cache", tmp_path)
    assert probe.wait(timeout=300) == 0, probe.stderr.read().decode()[-2000:]
    duration = time.monotonic() - start  # imports, store creation, migration, parent, one cell
    rng = random.Random(os.environ.get("BENCH_KILL_SEED", time.time_ns()))
    for attempt in range(10):  # a new random instant each CI run: 10 here, more across runs
        store = tmp_path / f"store-{attempt}"
        store.mkdir()
        uri = f"sqlite:///{store / 'mlruns.db'}"
        proc = bench_run(spec_path, uri, store / "cache", store)
        time.sleep(rng.uniform(0.5, duration))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        rerun = bench_run(spec_path, uri, store / "cache", store)
        stderr = rerun.stderr.read().decode()
        assert rerun.wait(timeout=300) == 0, f"attempt {attempt}: {stderr[-2000:]}"
        assert "Traceback" not in stderr
        assert_one_parent_and_one_finished_child_per_cell(uri, spec)


@pytest.mark.slow
def test_three_clients_at_once_on_a_new_and_on_an_existing_store(tiny_model_dir, tmp_path):
    same = tiny_sweep(tiny_model_dir, name="same", limit=8, seeds=[0, 1])
    other = tiny_sweep(tiny_model_dir, name="other", limit=8, seeds=[2])
    paths = [write(same, tmp_path / "same.yaml"), write(same, tmp_path / "same.yaml"), write(other, tmp_path / "other.yaml")]
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    for round_ in ("new store", "existing store"):
        if round_ == "existing store":  # same store, new cells: the sweeps gain a seed
            same["seeds"], other["seeds"] = [0, 1, 3], [2, 4]
            write(same, tmp_path / "same.yaml"), write(other, tmp_path / "other.yaml")
        procs = [bench_run(p, uri, tmp_path / "cache", tmp_path) for p in paths]
        for proc in procs:
            stderr = proc.stderr.read().decode()
            assert proc.wait(timeout=600) == 0, f"{round_}: {stderr[-2000:]}"
            assert "Traceback" not in stderr, f"{round_}: {stderr[-2000:]}"
        for spec in (same, other):  # a changed sweep is a new parent run; each has its cells once
            parents, kids = runs_of(uri, spec["name"])
            cells = sweep.expand(sweep.parse(spec))
            (parent,) = [p for p in parents if p.data.tags[SWEEP_TAG] == sweep.sweep_key(cells)]
            mine = [r for r in kids if r.data.tags[PARENT_ID_TAG] == parent.info.run_id]
            assert sorted(r.data.tags[CELL_TAG] for r in mine) == sorted(c.key for c in cells), round_
            assert all(r.info.status == "FINISHED" for r in kids)
            assert len(parents) == (1 if round_ == "new store" else 2)
