"""``bench ui``: a real MLflow server on a tiny sweep's store, started the way a user starts it
(the CLI, in a subprocess), waited for until it answers HTTP 200 on the sweep's experiment,
then stopped by its PID — with the server's whole process group gone. Experiments are tagged
so that the UI opens on the runs table, new ones at creation and older ones when the UI starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.runner import run_sweep
from entropy_bench.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from entropy_bench.ui import latest_experiment, runs_url, server_command, server_env, tag_experiments

from sweep_fixtures import tiny_sweep
from test_tracking_server import free_port


def test_the_server_runs_one_worker_with_job_execution_off_unless_asked():
    command = server_command("sqlite:///x.db", "127.0.0.1", 5123, 1)
    assert command[1:4] == ["-m", "mlflow", "server"] and command[command.index("--workers") + 1] == "1"
    assert server_env(False)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert server_env(True)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"


def test_older_experiments_get_the_runs_table_kind_and_new_ones_have_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("written-before")
    assert tag_experiments(uri) == 2  # "Default" and the old one
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert tag_experiments(uri) == 0


def test_the_printed_url_opens_the_latest_sweeps_runs_table_in_the_model_training_view(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client = MlflowClient(uri)
    assert latest_experiment(uri) is None  # only "Default"
    client.create_experiment("first")
    time.sleep(0.01)
    second = client.create_experiment("second")
    assert latest_experiment(uri) == second
    assert runs_url("http://h:1", second) == f"http://h:1/#/experiments/{second}/runs?workflowType=machine_learning"
    assert runs_url("http://h:1", None) == "http://h:1/#/experiments?workflowType=machine_learning"


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_bench_ui_answers_http_200_and_stops_by_its_pid(tiny_model_dir, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_sweep(sweep.parse(tiny_sweep(tiny_model_dir, limit=2, decoders=["greedy"])), tracking_uri=uri,
              cache_dir=tmp_path / "cache", progress=False)
    experiment = MlflowClient(uri).get_experiment_by_name("tiny")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    port = free_port()
    bench = Path(sys.executable).with_name("bench")
    proc = subprocess.Popen([str(bench), "ui", "--tracking-uri", uri, "--port", str(port), "--timeout", "150"],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "MLflow UI at" in line or len(lines) > 200:
                break
        assert any(f"MLflow UI at http://127.0.0.1:{port}" in ln for ln in lines), "".join(lines)
        server_pid = int(lines[-1].split("server PID ")[1].split(")")[0])
        assert runs_url(f"http://127.0.0.1:{port}", experiment.experiment_id) in proc.stderr.readline()
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # the server's log: drained
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200
        query = json.dumps({"experiment_ids": [experiment.experiment_id]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search", data=query,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert len(json.load(response)["runs"]) == 2  # the parent and its one cell
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
        deadline = time.time() + 15
        while not process_gone(server_pid) and time.time() < deadline:
            time.sleep(0.2)
        assert process_gone(server_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
