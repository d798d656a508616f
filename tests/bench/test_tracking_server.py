"""Tracking through a real ``mlflow server`` on 127.0.0.1 (started and stopped here), and
through sqlite, gives the same runs."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.runner import run_sweep
from entropy_bench.tracking import PARENT_ID_TAG

from sweep_fixtures import tiny_sweep


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("mlflow server did not start")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def summary(uri: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id])
    kids = sorted(
        (r.data.params["decoder"], r.data.metrics["test/task/exact_match"]) for r in runs if PARENT_ID_TAG in r.data.tags
    )
    return kids, sum(PARENT_ID_TAG not in r.data.tags for r in runs)


def test_server_and_sqlite_hold_the_same_runs(tiny_model_dir, tmp_path, mlflow_server):
    spec = sweep.parse(tiny_sweep(tiny_model_dir))
    sqlite_uri = f"sqlite:///{tmp_path / 'local.db'}"
    run_sweep(spec, tracking_uri=mlflow_server, cache_dir=tmp_path / "cache", progress=False)
    run_sweep(spec, tracking_uri=sqlite_uri, cache_dir=tmp_path / "cache", progress=False)
    over_http, parents_http = summary(mlflow_server)
    local, parents_local = summary(sqlite_uri)
    assert over_http == local and len(local) == 2 and parents_http == parents_local == 1
    run = next(r for r in MlflowClient(mlflow_server).search_runs(
        [MlflowClient(mlflow_server).get_experiment_by_name("tiny").experiment_id]) if PARENT_ID_TAG in r.data.tags)
    assert [a.path for a in MlflowClient(mlflow_server).list_artifacts(run.info.run_id)] == [
        "entropy_trace.png", "per_example.csv", "risk_coverage.png"]
