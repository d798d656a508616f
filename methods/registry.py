"""Registries of methods: register / get (with "did you mean") / list, and method ids.

A method is a frozen dataclass whose fields are its parameters. Its **method id** names
every parameter that changes results, e.g. ``top_p(top_p=0.9)``; the id is the MLflow param
and the table row, so two variants never share a name.

Each family has one :class:`Registry` (``DECODERS``, ``UNCERTAINTY``, ``ESTIMATORS``,
``LOSSES``). A registry imports its family package lazily, on first use, and that import
registers every module in it: adding a file to ``methods/decoders/`` adds a decoder.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import pkgutil
import re
import types
import typing
from typing import Any, Callable, ClassVar, Sequence


class UnknownMethodError(LookupError):
    """A name that is not registered; the message suggests the closest names."""

    def __init__(self, family: str, name: str, available: list[str]):
        self.family, self.name, self.available = family, name, available
        super().__init__(f"unknown {family} {name!r}{did_you_mean(name, available)} available: {', '.join(available)}")

    def __str__(self) -> str:  # LookupError would repr() the message
        return self.args[0]


class InvalidParameterError(ValueError):
    """A parameter outside its domain; ``field`` names it (``top_p``, ``limit``, …)."""

    def __init__(self, owner: str, field: str, message: str):
        self.owner, self.field = owner, field
        super().__init__(f"{owner}: invalid {field!r}: {message}")


def require(condition: bool, owner: str, field: str, message: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``condition`` holds."""
    if not condition:
        raise InvalidParameterError(owner, field, message)


def did_you_mean(name: Any, available: Sequence[str]) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names in ``available`` close to ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), list(available), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def require_choice(value: Any, choices: Sequence[str], owner: str, field: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``value`` is one of ``choices`` (did-you-mean)."""
    require(value in choices, owner, field,
            f"must be one of {', '.join(choices)}, got {value!r}{did_you_mean(value, choices)}")


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 12))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    return str(value)


def method_id(name: str, params: dict[str, Any]) -> str:
    """``name(k1=v1,k2=v2)`` with keys sorted; ``name`` alone when there are no params."""
    if not params:
        return name
    inner = ",".join(f"{k}={_format_value(params[k])}" for k in sorted(params))
    return f"{name}({inner})"


def split_outside_brackets(text: str, separator: str) -> list[str] | None:
    """``text`` split at the ``separator`` characters outside ``()`` and ``[]``; None where a
    bracket closes that was not opened."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if depth < 0:
            return None
        if char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def split_method_id(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The inverse of :func:`method_id` for one method: ``name(k1=v1,k2=v2)`` → ``(name, [(k1,
    v1), (k2, v2)])``, splitting at the commas outside brackets; ``(text, [])`` for anything
    else (a bare name, a chain ``a(…)+b(…)``, whose first bracket closes before the end)."""
    match = re.fullmatch(r"([A-Za-z_][\w.-]*)\((.*)\)", text, flags=re.S)
    items = split_outside_brackets(match.group(2), ",") if match else None
    if items is None:
        return text, []
    return match.group(1), [(key, value) for key, _, value in (item.partition("=") for item in items)]


class Method:
    """Mixin for registered methods: a frozen dataclass whose fields are the parameters.

    ``infinite_params`` names the float parameters that accept ±inf (EAD's ``threshold``);
    every other float parameter built through :meth:`Entry.build` must be finite, and NaN is
    refused everywhere.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    infinite_params: ClassVar[frozenset[str]] = frozenset()

    @property
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    @property
    def id(self) -> str:
        return method_id(self.name, self.params)

    def __str__(self) -> str:
        return self.id


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered method: its factory (a dataclass), paper and parameters."""

    name: str
    family: str
    factory: type
    paper: str
    url: str | None

    @property
    def summary(self) -> str:
        doc = self.factory.__dict__.get("__doc__") or ""
        if doc.startswith(f"{self.factory.__name__}("):  # dataclass's generated signature
            doc = ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @property
    def params(self) -> dict[str, Any]:
        """Parameter name → default (``dataclasses.MISSING`` where required)."""
        out = {}
        for f in dataclasses.fields(self.factory):
            if not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
            else:
                out[f.name] = dataclasses.MISSING
        return out

    def build(self, **params: Any) -> Any:
        """Instantiate with ``params``; unknown or invalid ones raise :class:`InvalidParameterError`.

        Values are checked against each parameter's declared type (its annotation, else the type
        of its default), without silent coercion: a bool is no number, a float no integer, a
        number no string. The one conversion is an integer given for a float parameter, which
        becomes that float, so that ``temperature: 1`` and ``temperature: 1.0`` are the same
        method with the same id. Floats must be finite (also inside lists), except ±inf for the
        parameters the method lists in ``infinite_params``.
        """
        known = self.params
        for key in params:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InvalidParameterError(
                    self.name, key, f"no such parameter{hint}; parameters: {', '.join(known) or 'none'}"
                )
        missing = [k for k, v in known.items() if v is dataclasses.MISSING and k not in params]
        if missing:
            raise InvalidParameterError(self.name, missing[0], "required parameter is missing")
        kinds = self._kinds()
        infinite = getattr(self.factory, "infinite_params", frozenset())
        checked = {}
        for key, value in params.items():
            kind, optional = kinds.get(key, (None, False))
            if kind is None:  # no usable annotation: judge by the default, as a number or not at all
                default = known[key]
                if _is_number(default) and not _is_number(value):
                    raise InvalidParameterError(self.name, key, f"must be a number, got {value!r}")
                if isinstance(default, float) and _is_number(value):
                    value = float(value)
            elif not (optional and value is None):
                value = _check_kind(self.name, key, kind, value)
            _check_finite(self.name, key, value, allow_infinite=key in infinite)
            checked[key] = value
        return self.factory(**checked)

    def _kinds(self) -> dict[str, tuple[type | None, bool]]:
        """Parameter → (float | int | bool | str or None when not one of those, whether None is allowed)."""
        try:
            hints = typing.get_type_hints(self.factory)
        except Exception:  # an annotation that does not resolve: fall back to the defaults
            return {}
        out = {}
        for name in self.params:
            hint = hints.get(name)
            args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
            optional = type(None) in args
            if args:
                rest = [a for a in args if a is not type(None)]
                hint = rest[0] if len(rest) == 1 else None
            out[name] = (hint if hint in (float, int, bool, str) else None, optional)
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_kind(owner: str, field: str, kind: type, value: Any) -> Any:
    """``value`` as a ``kind`` parameter (an int for a float becomes a float), or an error."""
    if kind is float:
        if not _is_number(value):
            raise InvalidParameterError(owner, field, f"must be a number, got {value!r}")
        return float(value)
    if kind is int:
        if not (isinstance(value, int) and not isinstance(value, bool)):
            raise InvalidParameterError(owner, field, f"must be an integer, got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidParameterError(owner, field, f"must be true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidParameterError(owner, field, f"must be a string, got {value!r}")
    return value


def _check_finite(owner: str, field: str, value: Any, allow_infinite: bool) -> None:
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_finite(owner, field, item, allow_infinite)
    elif isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            raise InvalidParameterError(owner, field, "must be a number, got nan (NaN is not allowed)")
        if not allow_infinite:
            raise InvalidParameterError(owner, field, f"must be a finite number, got {value!r}")


class Registry:
    """Name → :class:`Entry` for one family; ``package`` is imported on first lookup."""

    def __init__(self, family: str, package: str | None = None):
        self.family = family
        self.package = package
        self._entries: dict[str, Entry] = {}
        self._loaded = package is None

    def register(self, name: str, *, paper: str, url: str | None = None) -> Callable[[type], type]:
        """Class decorator: ``@DECODERS.register("top_p", paper="…", url="…")``."""

        def decorate(cls: type) -> type:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} must be a dataclass to be registered")
            if name in self._entries and self._entries[name].factory is not cls:
                raise ValueError(f"{self.family} {name!r} is registered twice")
            cls.name = name
            cls.paper = paper
            self._entries[name] = Entry(name, self.family, cls, paper, url)
            return cls

        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def get(self, name: str) -> Entry:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownMethodError(self.family, name, self.names()) from None

    def build(self, name: str, **params: Any) -> Any:
        return self.get(name).build(**params)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries


DECODERS = Registry("decoder", "entropy_bench.methods.decoders")
UNCERTAINTY = Registry("uncertainty measure", "entropy_bench.methods.uncertainty")
ESTIMATORS = Registry("estimator", "entropy_bench.methods.estimators")
LOSSES = Registry("loss", "entropy_bench.methods.losses")
