"""``bench ui``: MLflow's UI on the suite's store, as a server that survives a loaded machine.

MLflow's defaults do not: ``mlflow ui`` starts 4 workers and a job-execution consumer, and on a
loaded 2-core machine the workers die in a loop before the UI answers. :func:`serve` starts
``mlflow server`` with one worker and job execution off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION``,
unless asked for), in a process group of its own, waits until ``/health`` answers (saying so
if the server exits or the wait runs out), prints the URL, and stops the whole group on Ctrl-C
or SIGTERM. Before it starts, every experiment of the store without a kind is given one
(:data:`~entropy_bench.tracking.EXPERIMENT_KIND`), so that the UI opens the sweep on its runs
table rather than on MLflow's GenAI overview, and the URL printed opens the latest sweep's
runs table in the UI's "model training" view (:func:`runs_url`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from entropy_bench.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

POLL_S = 0.5


class ServerError(RuntimeError):
    """The server exited or did not answer in time."""


def server_command(uri: str, host: str, port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host,
            "--port", str(port), "--workers", str(workers)]


def server_env(jobs: bool) -> dict[str, str]:
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if jobs else "false"}


def tag_experiments(uri: str) -> int:
    """Give every experiment of the store without a kind tag the runs-table kind; how many it tagged."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    untagged = [e for e in client.search_experiments(max_results=50000) if EXPERIMENT_KIND_TAG not in e.tags]
    for experiment in untagged:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return len(untagged)


def runs_url(base: str, experiment_id: str | None) -> str:
    """The UI's runs table of an experiment (the experiment list without one), in MLflow's
    "model training" view: its UI starts in the GenAI view, whatever the experiment's kind."""
    page = f"experiments/{experiment_id}/runs" if experiment_id else "experiments"
    return f"{base}/#/{page}?workflowType=machine_learning"


def latest_experiment(uri: str) -> str | None:
    """The id of the store's most recently created experiment other than MLflow's "Default"."""
    from mlflow.tracking import MlflowClient

    found = [e for e in MlflowClient(tracking_uri=uri).search_experiments(max_results=50000) if e.name != "Default"]
    return max(found, key=lambda e: e.creation_time or 0).experiment_id if found else None


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Return once ``url``/health answers 200; :class:`ServerError` if ``process`` exits first or
    ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the MLflow server exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=POLL_S * 4) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(POLL_S)
    raise ServerError(f"the MLflow server did not answer at {url} within {timeout_s:.0f} s")


def stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM to the server's process group, SIGKILL after ``grace_s``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def serve(uri: str, host: str, port: int, *, workers: int = 1, jobs: bool = False, timeout_s: float = 180.0,
          say: Callable[[str], None] = print) -> int:
    """Run the UI server until it exits or is stopped; its exit code (0 when stopped)."""
    tag_experiments(uri)
    url = f"http://{host}:{port}"
    process = subprocess.Popen(server_command(uri, host, port, workers), env=server_env(jobs), start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops it as Ctrl-C does
    try:
        say(f"starting the MLflow UI on {uri} (PID {process.pid}, {workers} worker"
            f"{'s' if workers != 1 else ''}, job execution {'on' if jobs else 'off'}) ...")
        wait_ready(url, process, timeout_s)
        say(f"MLflow UI at {url} (server PID {process.pid}); Ctrl-C stops it")
        say(f"runs of the latest sweep: {runs_url(url, latest_experiment(uri))}")
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(process)
        signal.signal(signal.SIGTERM, previous)
