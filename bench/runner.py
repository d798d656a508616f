"""Runs a sweep: expand → skip what is finished → hand cells to an executor → log results.

Nothing here is specific to a kind of work: the plan's track (``bench/tracks/``) expands the
cells, evaluates one, and summarises them. The runner

1. opens the sweep's parent run (reopened on rerun) and says once when the store holds runs
   of an older layout (they are kept, not reused);
2. drops cells whose data is unavailable (an optional task offline: a warning);
3. pulls cells for the executor one at a time: a cell with a FINISHED child run is done — or,
   if scorers were added to the sweep since, it is evaluated again from the cache and the new
   scorers' metrics are added to that same run; a cell held by a live concurrent client is
   left to it; any other cell is claimed (``Tracker.claim``) and evaluated;
4. logs each result on the driver as the executor returns it — a cell the executor reports as
   failed after its retries (:class:`~entropy_bench.executors.CellFailure`) is marked FAILED with
   its error and traceback, listed in the result, and the others go on — and when nothing is
   left to claim but cells are still held by others, waits for them (or for their claims to go
   stale);
5. logs the track's figures on the parent run and marks it FINISHED.

A killed process leaves its claimed runs RUNNING; they are recognised as stale (owner gone)
and claimed again by the next run. On an exception the cells in flight are marked FAILED.
"""

from __future__ import annotations

import dataclasses
import csv
import io
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

from tqdm.auto import tqdm

from entropy_bench import sweep as sweeps
from entropy_bench.cache import Cache
from entropy_bench.executors import CellFailure, Executor, LocalExecutor
from entropy_bench.tracking import CELL_TAG, Heartbeat, Tracker, scored_by
from entropy_bench.tracks.base import Cell, CellResult, Context

POLL_SECONDS = 2.0


def per_example_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@dataclasses.dataclass
class SweepResult:
    parent_run_id: str
    cells: int
    skipped: int  # already finished before this run, or unavailable
    generated_examples: int  # data items computed now (generations, samples)
    forward_calls: int
    experiment: str
    tracking_uri: str
    rescored: int = 0  # finished cells given new scorers' metrics
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (cell label, error) after retries


@dataclasses.dataclass(frozen=True)
class Job:
    """A cell handed to the executor: a new claim (``run_id`` RUNNING) or a rescore of a finished run."""

    cell: Cell
    run_id: str
    finished_run: Any = None  # the FINISHED run to add scorers to


def run_sweep(
    spec: Any,
    *,
    tracking_uri: str | None = None,
    cache_dir: str | Path = ".bench_cache",
    resources: dict[str, Any] | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> SweepResult:
    """Run every cell of ``spec`` (a spec or a :class:`~entropy_bench.sweep.Plan`) not already finished;
    the track's figures go to the parent run and, if given, to ``out_dir``."""
    plan = spec if isinstance(spec, sweeps.Plan) else sweeps.plan(spec)
    track = plan.track
    context = Context(Cache(cache_dir), {**track.resources(), **(resources or {})}, progress=progress)
    available = [c for c in plan.cells if not _skipped(track, c, context)]  # data checked before anything is written
    tracker = Tracker(tracking_uri, plan.spec.name)
    _note_legacy(tracker)
    parent = tracker.open_parent(
        plan.key, run_name=f"{plan.spec.name}-{plan.key[:8]}",
        params={"sweep.name": plan.spec.name, "sweep.cells": str(len(plan.cells)), "sweep.track": track.name},
        tags={"bench.sweep_spec": plan.spec.model_dump_json()},
    )
    counts = {"new": 0, "rescored": 0, "produced": 0}
    failed: list[tuple[str, str]] = []
    evaluate = CellEvaluator(track, Path(cache_dir), progress, context)
    bar = tqdm(total=len(available), desc=f"bench run {plan.spec.name}", unit="cell", disable=not progress)
    in_flight: dict[str, Job] = {}
    with Heartbeat(tracker.uri) as heartbeat:
        jobs = _jobs(tracker, parent, available, track.name, heartbeat, in_flight, bar)
        try:
            for job, result in (executor or LocalExecutor()).map(evaluate, jobs):
                bar.set_postfix_str(job.cell.label)
                if isinstance(result, CellFailure):
                    tracker.fail(job.run_id, error=result.traceback)
                    failed.append((job.cell.label, result.error))
                else:
                    _log(tracker, job, result)
                    counts["rescored" if job.finished_run is not None else "new"] += 1
                    counts["produced"] += result.produced
                in_flight.pop(job.run_id, None)
                heartbeat.runs.discard(job.run_id)
                bar.update(1)
        except BaseException:
            for job in in_flight.values():
                if job.finished_run is None:
                    tracker.fail(job.run_id)
            raise
    bar.close()
    figures = _figures(plan, tracker, parent)
    tracker.close_parent(parent, figures=figures)
    if out_dir is not None:
        _save(figures, Path(out_dir))
    return SweepResult(
        parent, len(plan.cells), len(plan.cells) - counts["new"], counts["produced"],
        track.forward_calls(context), plan.spec.name, tracker.uri, counts["rescored"], failed,
    )


class CellError(RuntimeError):
    """A cell failed; the message names the cell and the cause."""


@dataclasses.dataclass
class CellEvaluator:
    """``job → track.evaluate(job.cell, context)``: the function an executor maps. It pickles
    without its context (models, pools): a process it is sent to (a Ray actor) builds its own,
    from the track's fresh resources and the cache's path, once, on first use. The result's
    figures come back rendered (PNG bytes), so that a result crosses processes as plain data."""

    track: Any
    cache_dir: Path
    progress: bool = True
    context: Context | None = None

    def __call__(self, job: Job) -> CellResult:
        if self.context is None:
            self.context = Context(Cache(self.cache_dir), self.track.resources(), progress=self.progress)
        result = _evaluate(self.track, job.cell, self.context)
        return dataclasses.replace(result, figures={name: _png(f) for name, f in result.figures.items()})

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "context": None}


def _png(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes (matplotlib's default dpi, as ``MlflowClient.log_figure``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _evaluate(track, cell: Cell, context: Context) -> CellResult:
    try:
        return track.evaluate(cell, context)
    except Exception as err:
        raise CellError(f"cell {cell.label} failed: {err}") from err


def _note_legacy(tracker: Tracker) -> None:
    old = tracker.legacy_children()
    if old:
        warnings.warn(
            f"{old} cell run(s) in experiment {tracker.client.get_experiment(tracker.experiment_id).name!r} were "
            "written before cell keys left out the uncertainty measures (entropy-bench 0.2); they are kept but "
            "not reused, and tables skip them. Cached generations are still used: nothing is regenerated.",
            stacklevel=3,
        )


def _skipped(track, cell: Cell, context: Context) -> bool:
    reason = track.skip_reason(cell, context)
    if reason:
        warnings.warn(f"skipping {cell.label}: {reason}", stacklevel=3)
    return bool(reason)


def _jobs(tracker: Tracker, parent: str, cells: list[Cell], track: str, heartbeat: Heartbeat,
          in_flight: dict[str, Job], bar) -> Iterator[Job]:
    """Cells to evaluate, claimed one at a time as the executor asks (module docstring, step 3)."""
    pending = {c.key: c for c in cells}
    while pending:
        progressed = False
        runs = _by_cell(tracker.children(parent))
        for key, cell in list(pending.items()):
            state, found = tracker.cell_state(runs.get(key, []))
            if state == "free":
                state, found = tracker.claim(parent, key, cell.label, track)
            if state == "held":
                continue
            del pending[key]
            progressed = True
            if state == "claimed":
                job = Job(cell, found)
            elif set(cell.scorer_ids) - scored_by(found):
                job = Job(cell, found.info.run_id, finished_run=found)
            else:
                bar.update(1)
                continue
            in_flight[job.run_id] = job
            heartbeat.runs.add(job.run_id)
            yield job
        if pending and not progressed:
            time.sleep(POLL_SECONDS)


def _by_cell(runs: list) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for run in runs:
        grouped.setdefault(run.data.tags.get(CELL_TAG), []).append(run)
    return grouped


def _log(tracker: Tracker, job: Job, result: CellResult) -> None:
    artifacts = {"per_example.csv": per_example_csv(result.per_example)}
    if job.finished_run is None:
        tracker.finish(job.run_id, params={**job.cell.params, **result.params}, metrics=result.metrics | result.work,
                       tags=result.tags, artifacts=artifacts, scorers=job.cell.scorer_ids, figures=result.figures)
        return
    logged = job.finished_run.data.metrics
    new = {k: v for k, v in result.metrics.items() if k not in logged}
    rescore_work = {f"rescore/{k}": v for k, v in result.work.items()}  # what this rescore did
    tracker.add_scores(job.run_id, metrics=new | rescore_work, artifacts=artifacts, scorers=job.cell.scorer_ids,
                       figures=result.figures)


def _figures(plan, tracker: Tracker, parent: str) -> dict[str, Any]:
    if not plan.track.has_figures:
        return {}
    from entropy_bench.tables import load_examples

    return plan.track.figures(plan.track.summarise(load_examples(tracker.uri, plan.spec.name, parent)))


def _save(figures: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(figure, str):
            path.write_text(figure + "\n")
        else:
            figure.savefig(path, dpi=120)
