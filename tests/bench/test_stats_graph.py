"""The shared-statistics graph (``bench/stats.py``): ``plan`` orders calculators and refuses
unknown statistics and cycles; ``compute`` caches each statistic under ``stat/<name>``; in a
sweep a statistic that two measures read is computed once per cell, and never again for the
same data (a fresh tracking store with the same cache computes nothing)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from entropy_bench import sweep
from entropy_bench.cache import Cache
from entropy_bench.cli import app
from entropy_bench.methods.registry import UNCERTAINTY, Registry, UnknownMethodError
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure
from entropy_bench.models.pool import Models
from entropy_bench.runner import run_sweep
from entropy_bench.stats import STATISTICS, StatCalculator, StatGraphError, compute, plan
from entropy_bench.tracking import CELL_TAG, PARENT_ID_TAG
from entropy_bench.tracks.generation import INPUTS

from sweep_fixtures import CountingLoader, tiny_sweep, write

COUNTED = "test_counted_nll_sum"


# --- a counted calculator and two measures that read it, registered for one test -------------


CALLS: list[dict[str, Any]] = []  # what each compute of the counted statistic was given


@dataclasses.dataclass(frozen=True)
class CountedNLLSum(StatCalculator):
    """Sum of each generation's token NLLs (what max_sequence_prob computes), counting its computes."""

    requires: ClassVar[frozenset[str]] = frozenset({"token_nll"})

    def compute(self, inputs: Mapping[str, Any]) -> list[float]:
        CALLS.append(dict(inputs))
        return [float(sum(nll)) for nll in inputs["token_nll"]]


@dataclasses.dataclass(frozen=True)
class ReadsCountedA(UncertaintyMeasure):
    requires: ClassVar[frozenset[str]] = frozenset({COUNTED})

    def __call__(self, stats):
        return np.asarray(stats[COUNTED], dtype=float)


@dataclasses.dataclass(frozen=True)
class ReadsCountedB(UncertaintyMeasure):
    requires: ClassVar[frozenset[str]] = frozenset({COUNTED})

    def __call__(self, stats):
        return -np.asarray(stats[COUNTED], dtype=float)


@dataclasses.dataclass(frozen=True)
class NeedsMisspelledStatistic(UncertaintyMeasure):
    requires: ClassVar[frozenset[str]] = frozenset({"token_nl"})

    def __call__(self, stats):
        return np.zeros(len(stats["token_nl"]))



def temporarily(registry: Registry, entries: dict[str, type]):
    registry.names()  # the lazy import of the family package happens now, not after the cleanup
    for name, cls in entries.items():
        assert name not in registry
        registry.register(name, paper="")(cls)
    return entries


@pytest.fixture
def counted_measures():
    """``test_counted_nll_sum`` in STATISTICS and two measures reading it in UNCERTAINTY (removed after)."""
    CALLS.clear()
    stats = temporarily(STATISTICS, {COUNTED: CountedNLLSum})
    measures = temporarily(UNCERTAINTY, {"test_reads_counted_a": ReadsCountedA, "test_reads_counted_b": ReadsCountedB})
    yield list(measures)
    for name in stats:
        STATISTICS._entries.pop(name)
    for name in measures:
        UNCERTAINTY._entries.pop(name)
    CALLS.clear()


@pytest.fixture
def misspelled_measure():
    measures = temporarily(UNCERTAINTY, {"test_needs_token_nl": NeedsMisspelledStatistic})
    yield next(iter(measures))
    for name in measures:
        UNCERTAINTY._entries.pop(name)


def child_metrics(uri: str, experiment: str) -> dict[str, dict[str, float]]:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=100)
    return {r.data.tags[CELL_TAG]: r.data.metrics for r in runs if PARENT_ID_TAG in r.data.tags}


# --- in a sweep ---------------------------------------------------------------------------------


def test_a_statistic_two_measures_read_is_computed_once_per_cell_then_read_from_the_cache(
    tiny_model_dir, tmp_path, counted_measures
):
    a, b = counted_measures
    spec = sweep.parse(tiny_sweep(tiny_model_dir, uncertainty=[a, b, "max_sequence_prob"]))
    cells = sweep.expand(spec)
    assert len(cells) == 2
    assert [c.name for c in cells[0].calculators] == ["token_nll", COUNTED]  # planned, dependency first

    cache = tmp_path / "cache"
    loader = CountingLoader()
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    result = run_sweep(spec, tracking_uri=uri, cache_dir=cache, resources={"models": Models(loader)}, progress=False)
    assert loader.calls > 0 and result.generated_examples == 12
    assert len(CALLS) == 2  # once per cell, although two measures read it
    assert all(set(call) == {"token_nll"} and len(call["token_nll"]) == 6 for call in CALLS)
    assert len(list((cache / f"stat/{COUNTED}").rglob("*.pt"))) == 2
    first = child_metrics(uri, "tiny")
    assert len(first) == 2
    for metrics in first.values():
        assert metrics[f"test/uq/{a}/mean"] == pytest.approx(metrics["test/uq/max_sequence_prob/mean"])
        assert metrics[f"test/uq/{b}/mean"] == pytest.approx(-metrics["test/uq/max_sequence_prob/mean"])

    # A fresh tracking store, the same cache: every cell is evaluated again, nothing is computed.
    CALLS.clear()
    fresh_uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    again = CountingLoader()
    result = run_sweep(spec, tracking_uri=fresh_uri, cache_dir=cache, resources={"models": Models(again)}, progress=False)
    assert result.skipped == 0 and result.generated_examples == 0 and again.calls == 0
    assert CALLS == []
    second = child_metrics(fresh_uri, "tiny")
    assert second.keys() == first.keys()
    for key, metrics in second.items():
        for name in (a, b, "max_sequence_prob"):
            assert metrics[f"test/uq/{name}/mean"] == first[key][f"test/uq/{name}/mean"]

    # And the same store again: the cells are done; still nothing computed.
    result = run_sweep(spec, tracking_uri=uri, cache_dir=cache, resources={"models": Models(CountingLoader())},
                       progress=False)
    assert result.skipped == 2 and result.rescored == 0 and CALLS == []


def test_cli_refuses_a_measure_requiring_an_unknown_statistic_before_writing_anything(
    tiny_model_dir, tmp_path, monkeypatch, misspelled_measure
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = write(tiny_sweep(tiny_model_dir, uncertainty=["max_sequence_prob", misspelled_measure]), tmp_path / "sweep.yaml")
    db, cache = tmp_path / "mlruns.db", tmp_path / "cache"
    result = CliRunner().invoke(app, ["run", str(path), "--tracking-uri", f"sqlite:///{db}", "--cache-dir", str(cache)])
    assert result.exit_code == 2, result.output
    assert "unknown statistic 'token_nl'" in result.output
    assert "did you mean 'token_nll'" in result.output
    assert not db.exists() and not cache.exists()
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / ".bench_cache").exists()


# --- plan ---------------------------------------------------------------------------------------


def calculator(requires: set[str], version: str = "1", log: list | None = None) -> type:
    """A calculator class reading ``requires``; its value names what it read; ``log`` gets its name per compute."""

    @dataclasses.dataclass(frozen=True)
    class Calc(StatCalculator):
        def compute(self, inputs):
            assert set(inputs) == set(self.requires)  # exactly what it declared
            if log is not None:
                log.append(self.name)
            return {"name": self.name, "read": {k: inputs[k] for k in sorted(inputs)}}

    Calc.requires = frozenset(requires)
    Calc.version = version
    return Calc


def registry_of(graph: dict[str, set[str]], versions: dict[str, str] | None = None, log: list | None = None) -> Registry:
    registry = Registry("statistic")
    for name, requires in graph.items():
        registry.register(name, paper="")(calculator(requires, (versions or {}).get(name, "1"), log))
    return registry


def test_plan_puts_each_calculator_after_the_statistics_it_reads():
    registry = registry_of({"a": {"b"}, "b": {"generations"}})
    assert [c.name for c in plan({"a"}, INPUTS, registry)] == ["b", "a"]
    # A diamond: d reads b and c, c reads b; each calculator appears once, after its inputs.
    registry = registry_of({"d": {"b", "c"}, "c": {"b", "examples"}, "b": {"generations"}})
    assert [c.name for c in plan({"d", "c"}, INPUTS, registry)] == ["b", "c", "d"]
    # Inputs need no calculator; nothing required, nothing planned.
    assert plan({"generations"}, INPUTS, registry) == [] and plan(set(), INPUTS, registry) == []


def test_plan_of_the_shipped_statistics():
    assert [c.name for c in plan({"token_nll"}, INPUTS)] == ["token_nll"]


def test_plan_refuses_a_cycle_and_names_it():
    registry = registry_of({"x": {"y"}, "y": {"z"}, "z": {"x", "generations"}})
    with pytest.raises(StatGraphError, match="cycle: x -> y -> z -> x"):
        plan({"x"}, INPUTS, registry)
    with pytest.raises(StatGraphError, match="cycle: s -> s"):
        plan({"s"}, INPUTS, registry_of({"s": {"s"}}))


def test_plan_refuses_an_unknown_statistic_with_a_did_you_mean():
    with pytest.raises(UnknownMethodError, match="did you mean 'token_nll'") as err:
        plan({"token_nl"}, INPUTS)
    assert err.value.family == "statistic" and err.value.name == "token_nl"
    assert "generations" in err.value.available and "token_nll" in err.value.available
    # Also when the unknown name is a dependency of a known calculator.
    registry = registry_of({"seq_score": {"tokn_scores"}, "token_scores": {"generations"}})
    with pytest.raises(UnknownMethodError, match="did you mean 'token_scores'"):
        plan({"seq_score"}, INPUTS, registry)


# --- compute --------------------------------------------------------------------------------------


def keyed(data_key: str) -> dict[str, str]:
    return {"generations": data_key, "examples": data_key}


def test_compute_caches_each_statistic_by_kind_and_recomputes_for_new_data(tmp_path):
    log: list[str] = []
    registry = registry_of({"a": {"b"}, "b": {"generations"}}, log=log)
    calculators = plan({"a"}, INPUTS, registry)
    cache = Cache(tmp_path / "cache")
    inputs = {"generations": [1, 2, 3], "examples": ["e1", "e2", "e3"]}

    values = compute(calculators, inputs, keyed("data-1"), cache)
    assert log == ["b", "a"]
    assert values["generations"] == [1, 2, 3] and values["examples"] == ["e1", "e2", "e3"]
    assert values["b"] == {"name": "b", "read": {"generations": [1, 2, 3]}}
    assert values["a"] == {"name": "a", "read": {"b": values["b"]}}
    for name in ("a", "b"):
        stored = list((tmp_path / "cache" / f"stat/{name}").rglob("*.pt"))
        assert len(stored) == 1
        assert Cache(tmp_path / "cache").get(f"stat/{name}", stored[0].stem) == values[name]

    # The same data key: both are read back, nothing computed.
    assert compute(calculators, inputs, keyed("data-1"), cache) == values and log == ["b", "a"]
    # A fresh plan (new calculator instances) finds them too: the key is the calculator's id, not the object.
    assert compute(plan({"a"}, INPUTS, registry), inputs, keyed("data-1"), cache) == values and log == ["b", "a"]

    # New data: both recomputed (a's key chains b's), stored as new entries.
    changed = {"generations": [4, 5], "examples": ["e4", "e5"]}
    values2 = compute(calculators, changed, keyed("data-2"), cache)
    assert log == ["b", "a", "b", "a"]
    assert values2["a"] == {"name": "a", "read": {"b": {"name": "b", "read": {"generations": [4, 5]}}}}
    assert len(list((tmp_path / "cache" / "stat/b").rglob("*.pt"))) == 2
    # The key is the data key, not the values handed in: the same key finds the old entry.
    assert compute(calculators, changed, keyed("data-1"), cache)["b"] == values["b"] and len(log) == 4

    # A new version of b alone: b, and a (computed from it), are recomputed.
    bumped = plan({"a"}, INPUTS, registry_of({"a": {"b"}, "b": {"generations"}}, versions={"b": "2"}, log=log))
    assert compute(bumped, inputs, keyed("data-1"), cache) == values
    assert log[4:] == ["b", "a"]
    # A new version of a alone: only a.
    bumped_a = plan({"a"}, INPUTS, registry_of({"a": {"b"}, "b": {"generations"}}, versions={"a": "2"}, log=log))
    compute(bumped_a, inputs, keyed("data-1"), cache)
    assert log[6:] == ["a"]
