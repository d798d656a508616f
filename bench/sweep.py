"""Sweep specs: YAML → the track's validated spec → a :class:`Plan` of cells.

A sweep file names its track (``track: generation`` by default, or ``estimation``); the rest
of the file is that track's section, validated by the track's own pydantic model (see
``bench/tracks/generation.py`` and ``bench/tracks/estimation.py`` for the fields). Every name
and parameter is checked (``did you mean``, the offending field named) and every cell built
by :func:`plan` before anything runs; the CLI builds the plan once and hands it to the runner.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from entropy_bench.methods.registry import UnknownMethodError
from entropy_bench.tracks import TRACKS
from entropy_bench.tracks.base import Cell, Track
from entropy_bench.tracks.spec import SpecError, check_logged

__all__ = ["Plan", "SpecError", "expand", "load", "load_yaml", "parse", "plan", "sweep_key"]


def parse(data: dict[str, Any]) -> BaseModel:
    """Validate a spec mapping with its track's model; errors become a :class:`SpecError` naming the field."""
    if not isinstance(data, dict):
        raise SpecError(f"sweep spec must be a YAML mapping of the sweep's fields, got {_kind(data)}")
    name = data.get("track", "generation")
    if not isinstance(name, str):
        raise SpecError(f"sweep spec: invalid 'track': must be a track name, got {_short(name)}")
    if name not in TRACKS:
        raise UnknownMethodError("track", name, sorted(TRACKS))
    model = TRACKS[name].spec
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        kind, message = first["type"], first["msg"]
        if kind == "missing":
            raise SpecError(f"sweep spec: invalid {where!r}: required field is missing") from None
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(first["loc"][0]), list(model.model_fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"sweep spec: invalid {where!r}: no such field{hint}; fields: "
                            f"{', '.join(model.model_fields)}") from None
        message = message.removeprefix("Value error, ")
        raise SpecError(f"sweep spec: invalid {where!r}: {message} (got {_short(first.get('input'))})") from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "nothing"}
    return names.get(type(value), f"a {type(value).__name__}")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML keeps the last)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key (a list or a mapping as a key)
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {_short(key)}",
                                                    key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, source: str) -> Any:
    """``text`` as YAML; a syntax error or a duplicate key becomes a :class:`SpecError` with its line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = err.problem or err.context or "invalid YAML"
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: invalid YAML: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def load(path: str | Path | None = None) -> BaseModel:
    """Load a YAML spec; ``None`` or a bare name (``default``) loads a sweep shipped in the package."""
    if path is None or (not Path(path).exists() and "/" not in str(path) and not str(path).endswith(".yaml")):
        name = "default" if path is None else str(path)
        shipped = resources.files("entropy_bench.sweeps") / f"{name}.yaml"
        if not shipped.is_file():
            shipped_names = sorted(p.name.removesuffix(".yaml") for p in resources.files("entropy_bench.sweeps").iterdir()
                                   if p.name.endswith(".yaml"))
            raise SpecError(f"no sweep file {name!r} and no shipped sweep of that name "
                            f"(shipped: {', '.join(shipped_names)})")
        text, source = shipped.read_text(), f"shipped sweep {name!r}"
    else:
        file = Path(path)
        source = f"sweep file {str(path)!r}"
        if not file.exists():
            raise SpecError(f"{source} does not exist")
        if file.is_dir():
            raise SpecError(f"{source} is a directory, not a YAML file")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise SpecError(f"{source} is not UTF-8 text (byte {err.start}: {err.reason})") from None
        except OSError as err:
            raise SpecError(f"cannot read {source}: {err.strerror or err}") from None
    data = load_yaml(text, source)
    if data is None:
        raise SpecError(f"{source} is empty; a sweep spec must be a YAML mapping of the sweep's fields")
    if not isinstance(data, dict):
        raise SpecError(f"sweep spec must be a YAML mapping of the sweep's fields, got {_kind(data)} ({source})")
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
    """Expand the sweep and validate it as a whole (names and params within MLflow's limits, and the
    track's own checks, e.g. that every model can be found): every error before anything is written."""
    cells = expand(spec)
    check_logged(cells)
    result = Plan(spec, track_of(spec), cells)
    result.track.validate(result)
    return result
