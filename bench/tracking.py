"""MLflow tracking: an experiment per sweep name, a parent run per sweep, a child run per cell.

- The parent run is identified by the sweep's key (tag ``bench.sweep_key``): rerunning or
  resuming the same sweep reopens the same parent instead of adding a new one.
- A cell is **claimed** before it is evaluated: its child run is created RUNNING with an owner
  tag (host, pid, process start time) and a heartbeat tag that a background thread refreshes
  (:class:`Heartbeat`). Once the cell is computed, params, metrics, tags and artifacts are
  written and the run is marked FINISHED. A cell with a FINISHED child is done.
- Only **stale** unfinished children are deleted (:func:`is_stale`): FAILED or KILLED ones,
  ones whose owner process on this host is gone, and ones whose heartbeat (from another
  host) is older than :data:`LEASE_SECONDS`; a stale RUNNING one is marked FAILED first.
- A new SQLite store is created whole or not at all (:func:`ensure_store`). A live concurrent client's run is never deleted:
  its cell is left to it, and a process that has nothing else to do waits for it.
- Claims are made under a file lock next to a SQLite store (all clients of one SQLite file
  share a host), and for every store checked after the fact: of two runs claiming one cell,
  the earlier-created keeps it and the other is deleted by its own process.
- Children carry *all* of the cell's params (MLflow does not inherit parent params), and a
  tag per scorer (``bench.scored.<hash>`` = the scorer id) that lists what scored the run,
  so a scorer added to the sweep later is added to the same runs.
- Children written before cell keys left out the scorers carry no ``bench.layout`` tag;
  they are kept but not reused (:data:`LAYOUT`).

The default tracking URI is ``sqlite:///mlruns.db`` in the working directory, overridden by
``--tracking-uri`` or ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import random
import socket
import subprocess
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
PARENT_ID_TAG = "mlflow.parentRunId"
SWEEP_TAG = "bench.sweep_key"
CELL_TAG = "bench.cell_key"
TRACK_TAG = "bench.track"
LAYOUT_TAG = "bench.layout"
LAYOUT = "2"  # 2: cell keys without the scorers (entropy-bench 0.2)
OWNER_TAG = "bench.owner"
HEARTBEAT_TAG = "bench.heartbeat"
SCORED_PREFIX = "bench.scored."
LEGACY_NOTED_TAG = "bench.legacy_noted"
ERROR_TAG = "bench.error"  # the end of a failed cell's traceback (the whole one: its error.txt)
MAX_TAG_LENGTH = 8000  # MLflow's limit on a tag value (mlflow.utils.validation.MAX_TAG_VAL_LENGTH)
# MLflow's UI opens an experiment on the page its kind names; this one opens it on the runs
# table (unset, MLflow ≥ 3 may guess "GenAI" and open on its traces overview).
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
LEASE_SECONDS = 300.0
HEARTBEAT_SECONDS = 30.0
PARAMS_GRACE_SECONDS = 1.0  # a parent's creator logs its params within milliseconds of creating it


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The URI in force; a relative SQLite path is made absolute (MLflow caches stores by URI, so
    one process in two working directories would otherwise reach the first one's file)."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    path = sqlite_path(uri)
    return f"sqlite:///{path.absolute()}" if path is not None and not path.is_absolute() else uri


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


# --- ownership of unfinished runs ---------------------------------------------------------


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _process_start(os.getpid())}


def _alive(owner: dict[str, Any]) -> bool:
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_start(int(owner["pid"]))
    return owner.get("started") is None or started is None or started == owner["started"]


def is_stale(run, now: float | None = None) -> bool:
    """Whether an unfinished child run was left behind by a process that will not finish it."""
    if run.info.status == "FINISHED":
        return False
    if run.info.status in ("FAILED", "KILLED"):
        return True
    try:
        owner = json.loads(run.data.tags[OWNER_TAG])
    except (KeyError, ValueError):
        return True  # no owner: written by a version without claims, whose writer is gone
    if owner.get("host") == socket.gethostname():
        return not _alive(owner)
    beat = float(run.data.tags.get(HEARTBEAT_TAG, 0))
    return (time.time() if now is None else now) - beat > LEASE_SECONDS


def scored_tag(scorer_id: str) -> str:
    return SCORED_PREFIX + hashlib.sha256(scorer_id.encode()).hexdigest()[:16]


def scored_by(run) -> set[str]:
    """The ids of the scorers whose metrics a run holds."""
    return {v for k, v in run.data.tags.items() if k.startswith(SCORED_PREFIX)}


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    return Path(uri.removeprefix("sqlite:///")).expanduser() if uri.startswith("sqlite:///") else None


def ensure_store(uri: str) -> None:
    """Create a new SQLite store so that a kill at any instant leaves either no store or a whole one.

    MLflow creates a SQLite schema as a series of separately committed migrations; a process
    killed in the middle leaves a file that every later client fails on. So a new store is
    created and migrated in a temporary file beside it, under the store lock (which also keeps
    concurrent first runs from migrating at once), and renamed into place when complete.
    Temporary files of earlier, killed attempts are removed. Other stores are left to MLflow.
    """
    path = sqlite_path(uri)
    if path is None or path.exists():
        return
    from mlflow.tracking import MlflowClient

    with store_lock(uri):
        if path.exists():  # another client created it while we waited for the lock
            return
        for leftover in path.parent.glob(f".{path.name}.init-*"):
            leftover.unlink()
        tmp = path.with_name(f".{path.name}.init-{os.getpid()}")
        MlflowClient(tracking_uri=f"sqlite:///{tmp}").search_experiments(max_results=1)
        os.replace(tmp, path)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock shared by every client of a SQLite store; a no-op for other stores."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.bench-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the tracker ---------------------------------------------------------------------------


class Tracker:
    """Parent/child runs of one sweep in one experiment."""

    def __init__(self, tracking_uri: str | None, experiment: str):
        from mlflow.tracking import MlflowClient

        self.uri = resolve_tracking_uri(tracking_uri)
        self.environment = environment_tags()  # once per sweep, not a git subprocess per cell
        ensure_store(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        with store_lock(self.uri):
            self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        """The id of experiment ``name``, created if missing; a client that loses the race to
        create it (another created it since it looked: a server store has no lock) reads it."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            # new, so it holds no run of an older layout: noted now, never counted later by
            # clients racing to tag it (a server store logs such a race as a unique violation)
            tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, LEGACY_NOTED_TAG: "0"}
            return self.client.create_experiment(name, tags=tags)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def _search(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=50000)

    def open_parent(self, sweep_key: str, run_name: str, params: dict[str, str], tags: dict[str, str] | None = None) -> str:
        """The parent run of this sweep, reopened if it exists, else created. ``params`` must be
        the same on every open: its creator logs them, a reopener only those it lacks
        (:meth:`_complete_params`); ``tags`` are updated (the spec in force, which may have
        gained scorers). A new parent is kept only if no other one appeared meanwhile
        (:meth:`_keep_alone`)."""
        while True:
            with store_lock(self.uri):
                existing = self._search(f"tags.`{SWEEP_TAG}` = '{sweep_key}'")
                if existing:
                    run_id = min(existing, key=_creation_order).info.run_id
                    self.client.update_run(run_id, status="RUNNING")
                    self._complete_params(run_id, params)
                    break
                run_id = self.client.create_run(self.experiment_id, run_name=run_name,
                                                tags={SWEEP_TAG: sweep_key, **self.environment}).info.run_id
                self._log(run_id, params=params)
            if self._keep_alone(run_id, self._search(f"tags.`{SWEEP_TAG}` = '{sweep_key}'")):
                break
        self._log(run_id, tags=tags)
        return run_id

    def _complete_params(self, run_id: str, params: dict[str, str]) -> None:
        """Log the ``params`` a reopened parent lacks: none, unless its creator was killed before
        it logged them, or is logging them at this instant. Hence a second look after
        :data:`PARAMS_GRACE_SECONDS` before writing: two clients writing one param at once
        collide on the store's unique key (a server store has no lock)."""
        for pause in (0.0, PARAMS_GRACE_SECONDS):
            time.sleep(pause)
            held = self.client.get_run(run_id).data.params
            missing = {k: v for k, v in params.items() if k not in held}
            if not missing:
                return
        self._log(run_id, params=missing)

    def _keep_alone(self, run_id: str, runs: list, rival=lambda run: True) -> bool:
        """Whether this client's new run ``run_id`` is the only ``rival`` among ``runs`` (read
        after it was created); if not, it is deleted and the caller, after a random pause,
        looks again. On a SQLite store the lock makes that certain; on a server, of two clients
        creating at once at least the later reader sees both runs, so at most one keeps its run
        — and when both see both, both withdraw and retry at random times. Client clocks never
        decide (``start_time`` is set by the client, and hosts' clocks differ)."""
        if not any(r.info.run_id != run_id and rival(r) for r in runs):
            return True
        self.client.delete_run(run_id)
        time.sleep(random.uniform(0.05, 0.5))
        return False

    def children(self, parent_id: str, cell_key: str | None = None) -> list:
        query = f"tags.`{PARENT_ID_TAG}` = '{parent_id}'"
        if cell_key is not None:
            query += f" and tags.`{CELL_TAG}` = '{cell_key}'"
        return self._search(query)

    def claim(self, parent_id: str, cell_key: str, run_name: str, track: str) -> tuple[str, Any]:
        """``("done", run)`` if the cell has a FINISHED child, ``("held", run)`` if a live process
        holds it, else ``("claimed", run_id)`` of a new RUNNING child owned by this process (stale
        children of the cell are deleted first; a claim that meets another live or finished run
        of the cell is withdrawn and the cell looked at again, :meth:`_keep_alone`)."""
        while True:
            with store_lock(self.uri):
                state = self.cell_state(self.children(parent_id, cell_key))
                if state[0] != "free":
                    return state
                for run in state[1]:  # stale: ended as FAILED, then removed
                    if run.info.status == "RUNNING":
                        self.client.set_terminated(run.info.run_id, "FAILED")
                    self.client.delete_run(run.info.run_id)
                run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags={
                    PARENT_ID_TAG: parent_id, CELL_TAG: cell_key, TRACK_TAG: track, LAYOUT_TAG: LAYOUT,
                    OWNER_TAG: json.dumps(this_process()), HEARTBEAT_TAG: str(time.time()),
                }).info.run_id
            if self._keep_alone(run_id, self.children(parent_id, cell_key),
                                rival=lambda r: r.info.status == "FINISHED" or not is_stale(r)):
                return "claimed", run_id

    @staticmethod
    def cell_state(runs: list) -> tuple[str, Any]:
        finished = [r for r in runs if r.info.status == "FINISHED"]
        if finished:
            return "done", min(finished, key=_creation_order)
        live = [r for r in runs if not is_stale(r)]
        if live:
            return "held", min(live, key=_creation_order)
        return "free", runs

    def finish(
        self, run_id: str, *, params: dict[str, str], metrics: dict[str, float], tags: dict[str, str],
        artifacts: dict[str, str], scorers: tuple[str, ...] = (), figures: dict[str, Any] | None = None,
    ) -> None:
        """Write a claimed cell's results and mark its run FINISHED (``artifacts``: name → text)."""
        self._log(run_id, params=params, metrics=metrics, tags={**self.environment, **tags, LAYOUT_TAG: LAYOUT})
        self.add_scores(run_id, metrics={}, artifacts=artifacts, scorers=scorers, figures=figures)
        self.client.set_terminated(run_id, "FINISHED")

    def add_scores(
        self, run_id: str, *, metrics: dict[str, float], artifacts: dict[str, str], scorers: tuple[str, ...],
        figures: dict[str, Any] | None = None,
    ) -> None:
        """Add scorers' metrics to a run, rewrite its artifacts, then tag the scorers as done
        (in that order, so that a kill in between leaves them to be added again). ``figures``:
        name → a matplotlib figure, or the bytes of an image already rendered."""
        self._log(run_id, metrics=metrics)
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                (Path(tmp) / name).write_text(content)
                self.client.log_artifact(run_id, str(Path(tmp) / name))
            for name, figure in (figures or {}).items():
                if isinstance(figure, bytes):
                    (Path(tmp) / name).write_bytes(figure)
                    self.client.log_artifact(run_id, str(Path(tmp) / name))
                else:
                    self.client.log_figure(run_id, figure, name)
        self._log(run_id, tags={scored_tag(s): s for s in scorers})

    def fail(self, run_id: str, error: str | None = None) -> None:
        """Mark ``run_id`` FAILED; ``error`` (a traceback) is kept as the run's ``error.txt``
        artifact and, its last lines, as the tag ``bench.error``."""
        if error:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "error.txt").write_text(error)
                self.client.log_artifact(run_id, str(Path(tmp) / "error.txt"))
            self.client.set_tag(run_id, ERROR_TAG, error[-MAX_TAG_LENGTH:])
        self.client.set_terminated(run_id, "FAILED")

    def log_cell(
        self, parent_id: str, *, cell_key: str, run_name: str, params: dict[str, str], metrics: dict[str, float],
        tags: dict[str, str], artifacts: dict[str, str], figures: dict[str, Any] | None = None,
    ) -> str:
        """Create and write one finished child run at once (studies, which claim nothing)."""
        run = self.client.create_run(self.experiment_id, run_name=run_name,
                                     tags={PARENT_ID_TAG: parent_id, CELL_TAG: cell_key})
        self.finish(run.info.run_id, params=params, metrics=metrics, tags=tags, artifacts=artifacts, figures=figures)
        return run.info.run_id

    def legacy_children(self) -> int:
        """How many child runs predate the current layout, the first time this store is asked
        (0 afterwards: the experiment is tagged once it has been told)."""
        from mlflow.exceptions import MlflowException

        if self._legacy_noted():
            return 0
        runs = self._search(f"tags.`{CELL_TAG}` != ''")
        old = sum(1 for r in runs if LAYOUT_TAG not in r.data.tags)
        try:
            self.client.set_experiment_tag(self.experiment_id, LEGACY_NOTED_TAG, str(old))
        except MlflowException:
            if self._legacy_noted():  # another client noted it at the same instant, and tells
                return 0
            raise
        return old

    def _legacy_noted(self) -> bool:
        return bool(self.client.get_experiment(self.experiment_id).tags.get(LEGACY_NOTED_TAG))

    def close_parent(self, parent_id: str, metrics: dict[str, float] | None = None,
                     figures: dict[str, Any] | None = None) -> None:
        if metrics:
            self._log(parent_id, metrics=metrics)
        for name, figure in (figures or {}).items():  # matplotlib figures, or text
            if isinstance(figure, str):
                self.client.log_text(parent_id, figure, name)
            else:
                self.client.log_figure(parent_id, figure, name)
        self.client.set_terminated(parent_id, "FINISHED")

    def _log(self, run_id: str, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
             tags: dict[str, str] | None = None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        p = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        m = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v == v]  # drop NaN
        t = [RunTag(k, str(v)[:8000]) for k, v in (tags or {}).items()]
        for i in range(0, max(len(p), len(m), len(t), 1), 100):
            self.client.log_batch(run_id, metrics=m[i : i + 100], params=p[i : i + 100], tags=t[i : i + 100])


def _creation_order(run) -> tuple[int, str]:
    return run.info.start_time or 0, run.info.run_id


class Heartbeat:
    """Refreshes the heartbeat tag of the runs this process holds, every ``HEARTBEAT_SECONDS``."""

    def __init__(self, uri: str, interval: float = HEARTBEAT_SECONDS):
        self.uri, self.interval = uri, interval
        self.runs: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="bench-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        while not self._stop.wait(self.interval):
            for run_id in list(self.runs):
                with contextlib.suppress(Exception):  # a run finished or deleted meanwhile
                    client.set_tag(run_id, HEARTBEAT_TAG, str(time.time()))

