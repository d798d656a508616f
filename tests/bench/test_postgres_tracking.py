"""Tracking on a shared ``mlflow server`` backed by PostgreSQL, as on a cluster: several
``bench run`` clients at once (two different sweeps, and a second client of one of them) log
every cell exactly once, as one FINISHED child run with its per-example artifact, under one
FINISHED parent per sweep, with no locking or serialisation error anywhere.

PostgreSQL and the server are started (and stopped) by ``postgres_fixtures``. The tests at the
end reproduce, deterministically, the races a server store allows (no lock): two clients creating
one experiment, one parent, one cell's claim at the same instant.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.tracking import CELL_TAG, OWNER_TAG, PARENT_ID_TAG, SWEEP_TAG, Tracker

from postgres_fixtures import mlflow_postgres_server, postgres_bin, postgres_uri  # noqa: F401 (fixtures)
from sweep_fixtures import tiny_sweep, write

LIMIT = 6
SWEEPS = {
    "pg-a": dict(seeds=[0, 1]),  # 2 decoders × 2 seeds: 4 cells, run by two clients at once
    "pg-b": dict(decoders=["greedy", {"name": "top_k", "top_k": 5}, {"name": "temperature", "temperature": 0.7}],
                 seeds=[0, 1]),  # 6 cells
}
CLIENTS = ("pg-a", "pg-b", "pg-a")
ERRORS = ("database is locked", "could not serialize", "deadlock", "Traceback")
SERVER_ERRORS = ("database is locked", "could not serialize", "deadlock detected", "UniqueViolation",
                 "IntegrityError", "OperationalError")


def cell_keys(spec: dict) -> list[str]:
    return sorted(c.key for c in sweep.plan(sweep.parse(spec)).cells)


@pytest.mark.slow
def test_concurrent_sweeps_on_postgres_log_each_cell_once(mlflow_postgres_server, tiny_model_dir, tmp_path):
    uri = mlflow_postgres_server.url
    specs = {name: tiny_sweep(tiny_model_dir, name=name, limit=LIMIT, **overrides) for name, overrides in SWEEPS.items()}
    paths = {name: write(spec, tmp_path / f"{name}.yaml") for name, spec in specs.items()}
    cache = tmp_path / "cache"  # shared by the clients, as on a cluster's shared filesystem
    log_start = mlflow_postgres_server.log.stat().st_size  # the server's log of this test only

    clients = []
    for i, name in enumerate(CLIENTS):
        err = tmp_path / f"client-{i}-{name}.err"
        with open(err, "wb") as handle:
            proc = subprocess.Popen(
                [sys.executable, "-m", "entropy_bench.cli", "run", str(paths[name]), "--tracking-uri", uri,
                 "--cache-dir", str(cache), "--no-progress"],
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=handle, start_new_session=True)
        clients.append((name, proc, err))
    deadline = time.monotonic() + 600
    for name, proc, err in clients:
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for _, other, _ in clients:
                other.kill()
            pytest.fail(f"a client of {name} did not finish in time")
    for name, proc, err in clients:
        stderr = err.read_text(errors="replace")
        assert proc.returncode == 0, f"client of {name} exited {proc.returncode}:\n{stderr[-3000:]}"
        found = [e for e in ERRORS if e.lower() in stderr.lower()]
        assert not found, f"client of {name} printed {found}:\n{stderr[-3000:]}"

    client = MlflowClient(uri)
    problems = [p for name, spec in specs.items() for p in sweep_problems(client, name, spec, tmp_path)]
    with open(mlflow_postgres_server.log, "rb") as handle:
        log = handle.read()[log_start:].decode(errors="replace")
    found = [e for e in SERVER_ERRORS if e in log]
    if found:
        problems.append(f"the server logged {found}:\n{log[-3000:]}")
    assert not problems, "\n".join(problems)


def sweep_problems(client: MlflowClient, name: str, spec: dict, tmp_path) -> list[str]:
    """What is wrong with the sweep's runs: parents, children per cell, statuses, artifacts."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return [f"{name}: no experiment"]
    runs = client.search_runs([experiment.experiment_id], max_results=1000, run_view_type=ViewType.ALL)
    active = [r for r in runs if r.info.lifecycle_stage == "active"]
    parents = [r for r in active if PARENT_ID_TAG not in r.data.tags]
    kids = [r for r in active if PARENT_ID_TAG in r.data.tags]
    problems = []
    if len(parents) != 1 or parents[0].info.status != "FINISHED":
        problems.append(f"{name}: parents {[(r.info.run_id, r.data.tags.get(SWEEP_TAG), r.info.status, r.info.start_time) for r in parents]}")
    per_cell = Counter(r.data.tags[CELL_TAG] for r in kids)
    if sorted(per_cell) != cell_keys(spec) or set(per_cell.values()) != {1}:
        problems.append(f"{name}: child runs per cell {dict(per_cell)} (cells {cell_keys(spec)}); children " + str(
            sorted((r.data.tags[CELL_TAG], r.data.tags[PARENT_ID_TAG], r.info.status, r.info.start_time,
                    r.data.tags.get(OWNER_TAG)) for r in kids)))
    statuses = Counter(r.info.status for r in kids)
    if set(statuses) != {"FINISHED"}:
        problems.append(f"{name}: child statuses {dict(statuses)}")
    deleted_finished = [r.info.run_id for r in runs if r.info.lifecycle_stage == "deleted" and r.info.status == "FINISHED"]
    if deleted_finished:
        problems.append(f"{name}: deleted FINISHED runs {deleted_finished}")
    for run in kids:
        if "per_example.csv" not in [a.path for a in client.list_artifacts(run.info.run_id)]:
            problems.append(f"{name}: run {run.info.run_id} has no per_example.csv")
            continue
        rows = client.download_artifacts(run.info.run_id, "per_example.csv", str(tmp_path / run.info.run_id))
        with open(rows, newline="") as handle:
            n_rows = len(list(csv.DictReader(handle)))
        if n_rows != LIMIT:
            problems.append(f"{name}: run {run.info.run_id}'s per_example.csv has {n_rows} rows, not {LIMIT}")
    return problems


# --- races of the tracking code on a shared server ------------------------------------------------
# On a server store ``store_lock`` is a no-op, so each check-then-create of ``Tracker`` can
# interleave with another client's. These reproduce the interleavings deterministically
# (threads, and a barrier or a hook at the point where the other client steps in); each
# expects the behaviour the module docstring of ``entropy_bench.tracking`` promises.


def in_threads(*calls):
    """Run the calls at once, one thread each: their results, or the exceptions they raised."""
    results = [None] * len(calls)

    def target(i, call):
        try:
            results[i] = call()
        except Exception as err:  # noqa: BLE001 (reported by the test)
            results[i] = err

    threads = [threading.Thread(target=target, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def after(original, barrier, when=lambda *args: True):
    """``original``, then a wait at ``barrier`` on each thread's first call with ``when(*args)``:
    both clients have looked before either acts (once: later looks run free, as a retry would)."""
    waited = threading.local()

    def wrapped(self, *args, **kwargs):
        found = original(self, *args, **kwargs)
        if when(*args) and not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return found

    return wrapped


def test_two_clients_starting_a_new_sweep_share_its_experiment(mlflow_postgres_server, monkeypatch):
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name",
                        after(MlflowClient.get_experiment_by_name, threading.Barrier(2, timeout=60)))
    made = in_threads(*[lambda: Tracker(mlflow_postgres_server.url, "race-experiment").experiment_id] * 2)
    assert not [m for m in made if isinstance(m, Exception)], made
    assert made[0] == made[1]


def test_two_clients_opening_one_sweep_share_its_parent(mlflow_postgres_server, monkeypatch):
    url = mlflow_postgres_server.url
    Tracker(url, "race-parent")  # the experiment exists: only the parent is raced for
    monkeypatch.setattr(Tracker, "_search", after(Tracker._search, threading.Barrier(2, timeout=60),
                                                  when=lambda query: SWEEP_TAG in query))
    opened = in_threads(*[lambda: Tracker(url, "race-parent").open_parent("race-key", "race", {"p": "1"})] * 2)
    tracker = Tracker(url, "race-parent")
    parents = tracker.client.search_runs([tracker.experiment_id], f"tags.`{SWEEP_TAG}` = 'race-key'")
    assert opened[0] == opened[1] and len(parents) == 1, (opened, [r.info.run_id for r in parents])


def test_a_cell_claimed_at_once_by_two_clients_goes_to_one(mlflow_postgres_server):
    url = mlflow_postgres_server.url
    x, y = Tracker(url, "race-claim"), Tracker(url, "race-claim")
    parent = x.open_parent("claim-key", "claim", {"p": "1"})
    outcomes = {}
    create_run = y.client.create_run

    def y_creates(*args, **kwargs):
        # Y found the cell free; X claims it now, whole, before Y's create_run reaches the server.
        # Y's clock is 1 s behind X's (hosts of a cluster), or its request was that long in flight.
        outcomes["x"] = x.claim(parent, "cell", "cell", "generation")[0]
        return create_run(*args, start_time=int(time.time() * 1000) - 1000, **kwargs)

    y.client.create_run = y_creates
    outcomes["y"] = y.claim(parent, "cell", "cell", "generation")[0]
    assert sorted(outcomes.values()) != ["claimed", "claimed"], outcomes
