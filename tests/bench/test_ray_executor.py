"""Sweeps on Ray: a local Ray cluster (2 CPUs) runs an 8-cell sweep whose MLflow store and cache
equal a local run's; an item that raises once is retried and succeeds; one that always raises
comes back as a failure while the others finish; the runner marks such a cell FAILED with its
traceback and a rerun completes it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

from mlflow.tracking import MlflowClient  # noqa: E402

from entropy_bench import sweep  # noqa: E402
from entropy_bench.executors import CellFailure, LocalExecutor, RayExecutor  # noqa: E402
from entropy_bench.runner import run_sweep  # noqa: E402
from entropy_bench.tracking import CELL_TAG, ERROR_TAG, PARENT_ID_TAG  # noqa: E402

from sweep_fixtures import tiny_sweep  # noqa: E402

SPEC = dict(name="on-ray", limit=4, seeds=[0, 1, 2, 3],
            tasks=[{"name": "arithmetic", "limit": 4, "max_new_tokens": 6, "num_fewshot": 1}])


@pytest.fixture(scope="module")
def cluster():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # this module's functions go to the workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def cells_of(uri: str, name: str) -> dict[str, dict]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    out = {}
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        if PARENT_ID_TAG not in run.data.tags or run.info.status != "FINISHED":
            continue
        assert run.data.tags[CELL_TAG] not in out, "a cell finished twice"
        csv = Path(client.download_artifacts(run.info.run_id, "per_example.csv")).read_text()
        out[run.data.tags[CELL_TAG]] = {
            "status": run.info.status, "params": run.data.params, "per_example": csv,
            "metrics": {k: v for k, v in run.data.metrics.items() if not k.startswith("cost/")},  # timings differ
        }
    return out


def cache_files(root: Path) -> dict[str, str]:
    """Each cache entry's content as text, without the seconds it took (torch.save's archive
    names its temporary file, so the bytes of equal entries differ)."""
    def content(path: Path) -> str:
        value = torch.load(path, weights_only=True)
        return repr({k: v for k, v in value.items() if k != "seconds"} if isinstance(value, dict) else value)

    return {str(p.relative_to(root)): content(p) for p in sorted(root.rglob("*.pt"))}


def test_a_sweep_on_ray_equals_the_local_run(cluster, tiny_model_dir, tmp_path):
    spec = sweep.parse(tiny_sweep(tiny_model_dir, **SPEC))
    local = run_sweep(spec, tracking_uri=f"sqlite:///{tmp_path / 'local.db'}", cache_dir=tmp_path / "local",
                      progress=False)
    on_ray = run_sweep(spec, tracking_uri=f"sqlite:///{tmp_path / 'ray.db'}", cache_dir=tmp_path / "ray",
                       progress=False, executor=RayExecutor(workers=2))
    assert local.cells == on_ray.cells == 8 and not on_ray.failed
    assert on_ray.generated_examples == local.generated_examples > 0
    ours, theirs = cells_of(local.tracking_uri, "on-ray"), cells_of(on_ray.tracking_uri, "on-ray")
    assert len(ours) == 8 and ours == theirs
    assert cache_files(tmp_path / "local") == cache_files(tmp_path / "ray")


def flaky(item: tuple[str, Path]) -> str:
    """Raises on the first call for an item (a marker file records it), then returns its name."""
    name, folder = item
    marker = folder / f"{name}.tried"
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError(f"{name}: transient")
    return name


def broken(item: tuple[str, Path]) -> str:
    if item[0] == "bad":
        raise ValueError("bad input, every time")
    return item[0]


def test_a_cell_that_raises_once_is_retried(cluster, tmp_path):
    items = [(f"cell{i}", tmp_path) for i in range(5)]
    results = dict(RayExecutor(workers=2, max_retries=1).map(flaky, items))
    assert {item[0]: r for item, r in results.items()} == {f"cell{i}": f"cell{i}" for i in range(5)}


def test_a_cell_that_always_raises_is_reported_and_the_rest_finish(cluster, tmp_path):
    items = [(name, tmp_path) for name in ("a", "bad", "b", "c")]
    results = {item[0]: r for item, r in RayExecutor(workers=2, max_retries=2).map(broken, items)}
    assert {k: v for k, v in results.items() if k != "bad"} == {"a": "a", "b": "b", "c": "c"}
    failure = results["bad"]
    assert isinstance(failure, CellFailure) and failure.attempts == 3
    assert failure.error == "ValueError: bad input, every time" and "Traceback" in failure.traceback


def test_ray_executor_pulls_items_only_when_an_actor_is_free(cluster, tmp_path):
    pulled = []

    def items():
        for i in range(6):
            pulled.append(i)
            yield (f"c{i}", tmp_path)

    results = RayExecutor(workers=2, max_retries=0).map(broken, items())
    next(results)
    assert len(pulled) <= 3  # two in flight, at most one more pulled as the first came back
    assert len(list(results)) == 5


class FailsOnce:
    """An executor that reports the first cell as failed (as the Ray executor does after its retries)."""

    def map(self, fn, items):
        for i, item in enumerate(items):
            yield item, (CellFailure("RuntimeError: boom", "Traceback …\nRuntimeError: boom", 3) if i == 0 else fn(item))


def test_the_runner_marks_a_failed_cell_and_a_rerun_completes_it(tiny_model_dir, tmp_path):
    spec = sweep.parse(tiny_sweep(tiny_model_dir, **{**SPEC, "seeds": [0]}))
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    first = run_sweep(spec, tracking_uri=uri, cache_dir=tmp_path / "cache", progress=False, executor=FailsOnce())
    assert len(first.failed) == 1 and first.failed[0][1] == "RuntimeError: boom"
    client = MlflowClient(uri)
    runs = [r for r in client.search_runs([client.get_experiment_by_name("on-ray").experiment_id])
            if PARENT_ID_TAG in r.data.tags]
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.tags[ERROR_TAG].endswith("RuntimeError: boom")
    assert "error.txt" in {a.path for a in client.list_artifacts(failed[0].info.run_id)}
    again = run_sweep(spec, tracking_uri=uri, cache_dir=tmp_path / "cache", progress=False, executor=LocalExecutor())
    assert not again.failed and again.skipped == 1  # the finished cell is kept, the failed one done now
    assert len(cells_of(uri, "on-ray")) == 2
