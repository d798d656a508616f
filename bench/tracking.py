"""MLflow tracking: an experiment per sweep name, a parent run per sweep, a child run per cell.

- The parent run is identified by the sweep's key (tag ``bench.sweep_key``): rerunning or
  resuming the same sweep reopens the same parent instead of adding a new one.
- A child run is written only once its cell is fully computed, in one batch (params, metrics,
  tags), then its artifacts, then it is marked FINISHED. A cell whose child run is FINISHED is
  skipped on rerun; a child left unfinished by a killed process is deleted and written anew,
  so the store ends with exactly one child run per cell.
- Children carry *all* of the cell's params (MLflow does not inherit parent params).
- Metric keys follow ``<split>/<family>/<metric>``; tags record git sha, package versions,
  device and model source.

The default tracking URI is ``sqlite:///mlruns.db`` in the working directory, overridden by
``--tracking-uri`` or ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
PARENT_ID_TAG = "mlflow.parentRunId"
SWEEP_TAG = "bench.sweep_key"
CELL_TAG = "bench.cell_key"


def resolve_tracking_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def metric_name(text: str) -> str:
    """A method id as an MLflow-legal key fragment: ``a(b=1,c=x)`` → ``a:b-1:c-x``."""
    text = text.replace("(", ":").replace(")", "").replace("=", "-").replace(",", ":")
    return re.sub(r"[^\w.\-/: +]", "_", text)


def environment_tags() -> dict[str, str]:
    tags = {"bench.device": _device(), "bench.python": platform.python_version()}
    for pkg in ("entropy-bench", "torch", "transformers", "triton", "mlflow", "datasets", "lm-eval"):
        try:
            tags[f"version.{pkg}"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    sha = _git_sha()
    if sha:
        tags["mlflow.source.git.commit"] = sha
        tags["bench.git_sha"] = sha
    return tags


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"cpu: {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"cpu: {platform.processor() or platform.machine()}"


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Tracker:
    """Parent/child runs of one sweep in one experiment."""

    def __init__(self, tracking_uri: str | None, experiment: str):
        from mlflow.tracking import MlflowClient

        self.uri = resolve_tracking_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def _search(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=50000)

    def open_parent(self, sweep_key: str, run_name: str, params: dict[str, str]) -> str:
        """The parent run of this sweep, reopened if it exists, else created."""
        existing = self._search(f"tags.`{SWEEP_TAG}` = '{sweep_key}'")
        if existing:
            run_id = existing[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags={SWEEP_TAG: sweep_key, **environment_tags()})
        self._log(run.info.run_id, params=params)
        return run.info.run_id

    def finished_cells(self, parent_id: str) -> set[str]:
        """Cell keys with a FINISHED child; unfinished children (a killed run) are deleted."""
        done = set()
        for run in self._search(f"tags.`{PARENT_ID_TAG}` = '{parent_id}'"):
            key = run.data.tags.get(CELL_TAG)
            if run.info.status == "FINISHED" and key not in done:
                done.add(key)
            else:
                self.client.delete_run(run.info.run_id)
        return done

    def log_cell(
        self,
        parent_id: str,
        *,
        cell_key: str,
        run_name: str,
        params: dict[str, str],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, str],
        figures: dict[str, Any] | None = None,
    ) -> str:
        """Write one finished cell as a child run; ``artifacts`` maps file name → text content."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags={PARENT_ID_TAG: parent_id, CELL_TAG: cell_key, **environment_tags(), **tags},
        )
        run_id = run.info.run_id
        self._log(run_id, params=params, metrics=metrics)
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                (Path(tmp) / name).write_text(content)
                self.client.log_artifact(run_id, str(Path(tmp) / name))
        for name, figure in (figures or {}).items():
            self.client.log_figure(run_id, figure, name)
        self.client.set_terminated(run_id, "FINISHED")
        return run_id

    def close_parent(self, parent_id: str, metrics: dict[str, float] | None = None) -> None:
        if metrics:
            self._log(parent_id, metrics=metrics)
        self.client.set_terminated(parent_id, "FINISHED")

    def _log(self, run_id: str, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None) -> None:
        from mlflow.entities import Metric, Param

        import time

        now = int(time.time() * 1000)
        p = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        m = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v == v]  # drop NaN
        for i in range(0, max(len(p), len(m), 1), 100):
            self.client.log_batch(run_id, metrics=m[i : i + 100], params=p[i : i + 100])


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
