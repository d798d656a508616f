"""Helpers shared by the tracks' spec sections: method entries, errors naming the field."""

from __future__ import annotations

from typing import Any, Iterable, Union

MethodSpec = Union[str, dict[str, Any]]


class SpecError(ValueError):
    """An invalid sweep spec; the message names the offending field."""


def split_spec(spec: MethodSpec, field: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{"name": …, **params}`` → (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    params = dict(spec)
    if "name" not in params:
        raise SpecError(f"sweep spec: invalid {field!r}: entry {spec!r} has no 'name'")
    return params.pop("name"), params


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def unique(named: dict[str, Iterable[str]]) -> None:
    """A :class:`SpecError` when a family (``"decoder"`` → ids) lists an id twice."""
    for family, ids in named.items():
        ids = list(ids)
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SpecError(f"sweep spec: {family} listed twice: {', '.join(dupes)}")
