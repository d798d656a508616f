"""Helpers shared by the tracks' spec sections: method entries, errors naming the field, names."""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterable, Union

from pydantic import AfterValidator, PlainValidator

# MLflow's limits (mlflow 3.x; tests/bench/test_bad_input.py checks them against the installed
# package): an experiment name is at most 500 characters by mlflow.utils.validation, but the SQL
# stores keep only 256 (experiments.name is String(256)); a run name is String(250), and a parent
# run is named "<sweep name>-<first 8 hex digits of the sweep key>"; a param value is at most
# MAX_PARAM_VAL_LENGTH = 6000 characters (longer ones are truncated).
MLFLOW_EXPERIMENT_NAME_LENGTH = 256
MLFLOW_RUN_NAME_LENGTH = 250
MLFLOW_PARAM_VALUE_LENGTH = 6000
SWEEP_KEY_SUFFIX = 9  # "-" + 8 hex digits
MAX_NAME_LENGTH = min(MLFLOW_EXPERIMENT_NAME_LENGTH, MLFLOW_RUN_NAME_LENGTH - SWEEP_KEY_SUFFIX)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SpecError(ValueError):
    """An invalid sweep spec; the message names the offending field."""


def _method_spec(value: Any) -> str | dict[str, Any]:
    """A method entry: ``"name"`` or a mapping ``{name: …, <parameter>: <value>}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return value
    raise ValueError("must be a method name or a mapping {name: …, <parameter>: <value>}")


def _decoder_spec(value: Any) -> Any:
    """A decoder entry: a method entry, or a list of them (a chain)."""
    if isinstance(value, list):
        try:
            return [_method_spec(v) for v in value]
        except ValueError:
            raise ValueError("a chain must be a list of decoder names or {name: …} mappings") from None
    try:
        return _method_spec(value)
    except ValueError:
        raise ValueError("must be a decoder name, a {name: …} mapping or a list of those (a chain)") from None


def _sweep_name(name: str) -> str:
    """A sweep name MLflow stores as given: an experiment and (with the key suffix) a run name."""
    if not name.strip():
        raise ValueError("must not be blank")
    if name != name.strip():
        raise ValueError("must not start or end with whitespace")
    if _CONTROL.search(name):
        raise ValueError("must not contain control characters (newlines, tabs, NUL, …)")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"must be at most {MAX_NAME_LENGTH} characters (MLflow stores experiment names of up to "
            f"{MLFLOW_EXPERIMENT_NAME_LENGTH} and run names of up to {MLFLOW_RUN_NAME_LENGTH}); it has {len(name)}"
        )
    return name


MethodSpec = Annotated[Union[str, dict[str, Any]], PlainValidator(_method_spec)]
DecoderSpec = Annotated[Union[str, dict[str, Any], list[Union[str, dict[str, Any]]]], PlainValidator(_decoder_spec)]
SweepName = Annotated[str, AfterValidator(_sweep_name)]


def split_spec(spec: MethodSpec, field: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{"name": …, **params}`` → (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    params = dict(spec)
    if "name" not in params:
        raise SpecError(f"sweep spec: invalid {field!r}: entry {spec!r} has no 'name'")
    name = params.pop("name")
    if not isinstance(name, str):
        raise SpecError(f"sweep spec: invalid {field!r}: entry {spec!r}: 'name' must be a string, got {name!r}")
    return name, params


def build_methods(entries: Iterable[MethodSpec], registry: Any, field: str) -> list:
    """Each entry of ``field`` built by ``registry`` (unknown names and parameters: did-you-mean)."""
    return [registry.build(name, **params) for name, params in (split_spec(e, field) for e in entries)]


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def unique(named: dict[str, Iterable[str]]) -> None:
    """A :class:`SpecError` when a family (``"decoder"`` → ids) lists an id twice."""
    for family, ids in named.items():
        ids = list(ids)
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SpecError(f"sweep spec: {family} listed twice: {', '.join(dupes)}")


def check_logged(cells: Iterable[Any]) -> None:
    """A :class:`SpecError` when a cell's run name or a param value is beyond MLflow's limits
    (a long chain of decoders, a long model path): MLflow would refuse or truncate it."""
    for cell in cells:
        if len(cell.label) > MLFLOW_RUN_NAME_LENGTH:
            raise SpecError(f"sweep spec: cell {cell.label[:60]!r}…: its run name is {len(cell.label)} characters; "
                            f"MLflow stores at most {MLFLOW_RUN_NAME_LENGTH}")
        for key, value in cell.params.items():
            if len(value) > MLFLOW_PARAM_VALUE_LENGTH:
                raise SpecError(f"sweep spec: invalid {key!r}: {value[:60]!r}… is {len(value)} characters; "
                                f"MLflow stores param values of at most {MLFLOW_PARAM_VALUE_LENGTH}")
