"""Sweep specs: YAML → validated spec → list of cells.

A sweep is the product models × tasks × decoders × seeds; every cell is scored by all the
sweep's uncertainty measures. Example::

    name: default
    limit: 100                 # examples per task (a task entry may override it)
    max_new_tokens: 8
    batch_size: 8
    seeds: [0]
    models: [HuggingFaceTB/SmolLM2-135M-Instruct]
    tasks:
      - arithmetic                                   # default parameters
      - {name: gsm8k, num_fewshot: 5, limit: 8, max_new_tokens: 256}
    decoders:
      - greedy
      - {name: temperature, temperature: 0.7}
      - [{name: temperature, temperature: 0.7}, {name: top_p, top_p: 0.9}]   # a chain
    uncertainty: [max_sequence_prob, mean_token_entropy]

Task entries take the task's own parameters plus the run settings ``split``, ``limit``,
``max_new_tokens`` and ``optional`` (skip the task, with a warning, when its data cannot be
loaded: no hub access and no ``$BENCH_DATA_DIR`` copy). Every name and parameter is checked (``did you mean``, the offending
field named) before anything runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from entropy_bench.methods.decoders.base import Decoder, build_decoder
from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.tasks.base import TASKS, Task

MethodSpec = Union[str, dict[str, Any]]
RUN_SETTINGS = ("split", "limit", "max_new_tokens", "optional")


class SpecError(ValueError):
    """An invalid sweep spec; the message names the offending field."""


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    tasks: list[MethodSpec] = Field(min_length=1)
    decoders: list[Union[MethodSpec, list[MethodSpec]]] = Field(min_length=1)
    uncertainty: list[MethodSpec] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    split: str | None = None
    limit: int | None = Field(default=None, ge=1)
    max_new_tokens: int = Field(default=64, ge=1)
    batch_size: int = Field(default=8, ge=1)


@dataclasses.dataclass(frozen=True)
class TaskRun:
    """A task with its run settings."""

    task: Task
    split: str
    limit: int | None
    max_new_tokens: int
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (model, task, decoder, seed) evaluation, scored by every measure of the sweep."""

    model: str
    task_run: TaskRun
    decoder: Decoder
    seed: int
    measures: tuple[UncertaintyMeasure, ...]
    batch_size: int

    @property
    def params(self) -> dict[str, str]:
        """Everything that changes the cell's results (the MLflow params of its child run)."""
        tr = self.task_run
        return {
            "model": self.model,
            "task": tr.task.id,
            "task.name": tr.task.name,
            "task.version": tr.task.version,
            "split": tr.split,
            "limit": str(tr.limit),
            "max_new_tokens": str(tr.max_new_tokens),
            "decoder": self.decoder.id,
            "seed": str(self.seed),
            "uncertainty": ",".join(m.id for m in self.measures),
        }

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        return f"{self.task_run.task.name}/{self.decoder.id}/seed={self.seed}"


def _split_spec(spec: MethodSpec, field: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    params = dict(spec)
    if "name" not in params:
        raise SpecError(f"sweep spec: invalid {field!r}: entry {spec!r} has no 'name'")
    return params.pop("name"), params


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _task_run(spec: MethodSpec, sweep: SweepSpec) -> TaskRun:
    name, params = _split_spec(spec, "tasks")
    settings = {k: params.pop(k) for k in RUN_SETTINGS if k in params}
    task = TASKS.build(name, **params)
    limit = settings.get("limit", sweep.limit)
    if limit is not None and not _positive_int(limit):
        raise InvalidParameterError(name, "limit", f"must be an integer >= 1, got {limit!r}")
    max_new = settings.get("max_new_tokens", sweep.max_new_tokens)
    if not _positive_int(max_new):
        raise InvalidParameterError(name, "max_new_tokens", f"must be an integer >= 1, got {max_new!r}")
    split = settings.get("split", sweep.split) or task.default_split
    if split not in task.splits:
        raise InvalidParameterError(name, "split", f"must be one of {', '.join(task.splits)}, got {split!r}")
    optional = settings.get("optional", False)
    if not isinstance(optional, bool):
        raise InvalidParameterError(name, "optional", f"must be true or false, got {optional!r}")
    return TaskRun(task, split, limit, max_new, optional)


def parse(data: dict[str, Any]) -> SweepSpec:
    """Validate a spec mapping; pydantic errors become a :class:`SpecError` naming the field."""
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"sweep spec: invalid {where!r}: {first['msg']} (got {first.get('input')!r})") from None


def load(path: str | Path | None = None) -> SweepSpec:
    """Load a YAML spec; ``None`` or a bare name (``default``) loads a sweep shipped in the package."""
    if path is None or (not Path(path).exists() and "/" not in str(path) and not str(path).endswith(".yaml")):
        name = "default" if path is None else str(path)
        shipped = resources.files("entropy_bench.sweeps") / f"{name}.yaml"
        if not shipped.is_file():
            raise SpecError(f"no sweep file {name!r} and no shipped sweep of that name")
        text = shipped.read_text()
    else:
        if not Path(path).exists():
            raise SpecError(f"sweep file {str(path)!r} does not exist")
        text = Path(path).read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SpecError("sweep spec must be a YAML mapping")
    return parse(data)


def expand(spec: SweepSpec) -> list[Cell]:
    """All cells of the sweep, every method built (so every error surfaces before any run)."""
    task_runs = [_task_run(t, spec) for t in spec.tasks]
    for entry in spec.decoders:
        if isinstance(entry, list) and not entry:
            raise SpecError("sweep spec: invalid 'decoders': an empty chain []")
        for part in entry if isinstance(entry, list) else [entry]:
            _split_spec(part, "decoders")  # a SpecError for an entry without 'name'
    decoders = [build_decoder(d) for d in spec.decoders]
    measures = tuple(UNCERTAINTY.build(n, **p) for n, p in (_split_spec(u, "uncertainty") for u in spec.uncertainty))
    named = {
        "model": spec.models,
        "seed": [str(s) for s in spec.seeds],
        "task": [t.task.id for t in task_runs],
        "decoder": [d.id for d in decoders],
        "uncertainty measure": [m.id for m in measures],
    }
    for family, ids in named.items():
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SpecError(f"sweep spec: {family} listed twice: {', '.join(dupes)}")
    return [
        Cell(model, tr, decoder, seed, measures, spec.batch_size)
        for model in spec.models
        for tr in task_runs
        for decoder in decoders
        for seed in spec.seeds
    ]


def sweep_key(cells: list[Cell]) -> str:
    """Identity of a sweep (its parent run): the hash of its cells' keys, in any order."""
    return hashlib.sha256(",".join(sorted(c.key for c in cells)).encode()).hexdigest()[:20]
