"""Sweep specs: YAML → the track's validated spec → a :class:`Plan` of cells.

A sweep file names its track (``track: generation`` by default, or ``estimation``); the rest
of the file is that track's section, validated by the track's own pydantic model (see
``bench/tracks/generation.py`` and ``bench/tracks/estimation.py`` for the fields). Every name
and parameter is checked (``did you mean``, the offending field named) and every cell built
by :func:`plan` before anything runs; the CLI builds the plan once and hands it to the runner.
"""

from __future__ import annotations

import dataclasses
import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from entropy_bench.methods.registry import UnknownMethodError
from entropy_bench.tracks import TRACKS
from entropy_bench.tracks.base import Cell, Track
from entropy_bench.tracks.spec import SpecError

__all__ = ["Plan", "SpecError", "expand", "load", "parse", "plan", "sweep_key"]


def parse(data: dict[str, Any]) -> BaseModel:
    """Validate a spec mapping with its track's model; errors become a :class:`SpecError` naming the field."""
    name = data.get("track", "generation")
    if name not in TRACKS:
        raise UnknownMethodError("track", str(name), sorted(TRACKS))
    try:
        return TRACKS[name].spec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"sweep spec: invalid {where!r}: {first['msg']} (got {first.get('input')!r})") from None


def load(path: str | Path | None = None) -> BaseModel:
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


def track_of(spec: BaseModel) -> Track:
    return TRACKS[spec.track]


def expand(spec: BaseModel) -> list[Cell]:
    """All cells of the sweep, every method built (so every error surfaces before any run)."""
    return track_of(spec).expand(spec)


def sweep_key(cells: list[Cell]) -> str:
    """Identity of a sweep (its parent run): the hash of its cells' keys, in any order."""
    return hashlib.sha256(",".join(sorted(c.key for c in cells)).encode()).hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated sweep: its spec, its track and its cells, built once."""

    spec: BaseModel
    track: Track
    cells: list[Cell]

    @property
    def key(self) -> str:
        return sweep_key(self.cells)


def plan(spec: BaseModel) -> Plan:
    return Plan(spec, track_of(spec), expand(spec))
