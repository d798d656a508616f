"""Adding an uncertainty measure to a finished sweep: no forward call, no new child run; the
same runs get the new measure's metrics (rescored from the cache) and the tables its column,
and everything logged before is unchanged. Adding nothing rescored nothing.

The tiny model answers no arithmetic question, which leaves every AUROC undefined (NaN, not
logged); the sweep's task is therefore arithmetic scored as right on every other example, so
the AUROCs exist and can be compared. An AUROC CI is 1000 scikit-learn calls (~2 s); these
tests cap the bootstrap at 100 resamples (:func:`fast_bootstrap`), which the checks do not depend on."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from entropy_bench import sweep, tables
from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.tracks import generation, generation_table
from entropy_bench.cli import app
from entropy_bench.models.pool import Models
from entropy_bench.runner import run_sweep
from entropy_bench.tasks.arithmetic import Arithmetic
from entropy_bench.tasks.base import TASKS
from entropy_bench.tracking import CELL_TAG, PARENT_ID_TAG, scored_by

from sweep_fixtures import CountingLoader, tiny_sweep

OLD = ["max_sequence_prob", "mean_token_entropy"]
NEW = OLD + ["perplexity"]
TASK = "test_every_other_right"


@dataclasses.dataclass(frozen=True)
class EveryOtherRight(Arithmetic):
    """Arithmetic whose even-numbered examples count as answered correctly, whatever the text."""

    def score(self, example, text):
        return {"exact_match": float(int(example["id"].rsplit("/", 1)[1]) % 2 == 0)}


@pytest.fixture(scope="module")
def task():
    TASKS.names()  # the lazy import of the task package happens now
    TASKS.register(TASK, paper="")(EveryOtherRight)
    yield {"name": TASK, "limit": 6, "max_new_tokens": 4, "num_fewshot": 1}
    TASKS._entries.pop(TASK)



def children(uri: str, experiment: str = "tiny") -> dict:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    return {r.info.run_id: r for r in runs if PARENT_ID_TAG in r.data.tags}


def per_example(uri: str, run_id: str, tmp) -> pd.DataFrame:
    path = MlflowClient(uri).download_artifacts(run_id, "per_example.csv", str(tmp))
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def fast_bootstrap():
    """At most 100 bootstrap resamples, in the cells' metrics and in the tables (``bench table`` too)."""

    def capped(*args, n_resamples=1000, **kwargs):
        return bootstrap_ci(*args, n_resamples=min(n_resamples, 100), **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generation, "N_BOOTSTRAP", 100)
        mp.setattr(generation_table, "bootstrap_ci", capped)
        yield


@pytest.fixture(scope="module")
def added(tiny_model_dir, tmp_path_factory, task, fast_bootstrap):
    """A 2-cell sweep run with OLD, then again with perplexity added; what each step left behind."""
    tmp = tmp_path_factory.mktemp("add-measure")
    uri, cache = f"sqlite:///{tmp / 'mlruns.db'}", tmp / "cache"
    out = {"tmp": tmp, "uri": uri, "cache": cache}

    def run(measures, loader):
        spec = sweep.parse(tiny_sweep(tiny_model_dir, uncertainty=measures, tasks=[task]))
        return run_sweep(spec, tracking_uri=uri, cache_dir=cache, resources={"models": Models(loader)}, progress=False)

    out["first_loader"] = CountingLoader()
    out["first"] = run(OLD, out["first_loader"])
    out["runs_before"] = children(uri)
    out["table_before"] = tables.summarise(tables.load_examples(uri, "tiny"))
    out["csv_before"] = {i: per_example(uri, i, tmp / "before") for i in out["runs_before"]}

    out["second_loader"] = CountingLoader()
    out["second"] = run(NEW, out["second_loader"])
    out["runs_after"] = children(uri)
    out["table_after"] = tables.summarise(tables.load_examples(uri, "tiny"))
    out["csv_after"] = {i: per_example(uri, i, tmp / "after") for i in out["runs_after"]}
    out["run"] = run
    return out


def test_adding_a_measure_makes_no_forward_call_and_rescores_every_cell(added):
    first, second = added["first"], added["second"]
    assert first.cells == 2 and first.generated_examples == 12 and added["first_loader"].calls > 0
    assert added["second_loader"].calls == 0 and second.forward_calls == 0
    assert second.generated_examples == 0
    assert second.rescored == 2 and second.cells == 2 and second.skipped == 2  # no cell was new
    assert second.parent_run_id == first.parent_run_id


def test_the_same_child_runs_get_the_new_measures_metrics(added):
    before, after = added["runs_before"], added["runs_after"]
    assert len(after) == len(before) == 2 and after.keys() == before.keys()
    assert {r.data.tags[CELL_TAG] for r in after.values()} == {r.data.tags[CELL_TAG] for r in before.values()}
    client = MlflowClient(added["uri"])
    for run_id, run in after.items():
        assert run.info.status == "FINISHED"
        old, new = before[run_id].data.metrics, run.data.metrics
        assert "test/uq/perplexity/mean" not in old
        assert scored_by(before[run_id]) == set(OLD) and scored_by(run) == set(NEW)
        assert "test/uq/perplexity/mean" in new
        rows = added["csv_after"][run_id]
        assert rows["correct"].tolist() == [1.0, 0.0] * 3  # so every AUROC is defined
        assert 0 <= new["test/uq/perplexity/auroc_ci_low"] <= new["test/uq/perplexity/auroc"] \
            <= new["test/uq/perplexity/auroc_ci_high"] <= 1
        assert 0 <= old["test/uq/max_sequence_prob/auroc"] <= 1
        # Perplexity is the mean token NLL: the sequence NLL over the number of tokens, per example.
        assert rows["uq:perplexity"].tolist() == pytest.approx((rows["uq:max_sequence_prob"] / rows["n_tokens"]).tolist())
        assert new["test/uq/perplexity/mean"] == pytest.approx(rows["uq:perplexity"].mean())
        # Every metric logged before is still there with the same value, logged once (not re-logged).
        for key, value in old.items():
            assert new[key] == value, key
        for key in ("test/uq/max_sequence_prob/mean", "test/task/exact_match", "cost/generation_seconds"):
            assert len(client.get_metric_history(run_id, key)) == 1
        assert set(new) - set(old) == {k for k in new if k.startswith(("test/uq/perplexity/", "rescore/cost/"))}
        assert new["rescore/cost/model_calls"] == 0 and new["rescore/cost/generations_computed"] == 0
        # The per-example rows gained the column and kept everything else.
        before_rows = added["csv_before"][run_id]
        assert list(rows.columns) == [*before_rows.columns[:4], "uq:perplexity", *before_rows.columns[4:]]
        pd.testing.assert_frame_equal(rows[list(before_rows.columns)], before_rows)


def test_table_gains_the_new_column_and_keeps_the_old_values(added):
    before, after = added["table_before"], added["table_after"]
    assert len(after) == len(before) == 2
    assert not after.duplicated(["model", "task", "decoder"]).any()
    assert set(after["decoder"]) == {"greedy", "temperature(temperature=0.7)"}
    assert (after["seeds"] == 1).all()  # one row per (model, task, decoder, seed): one seed
    assert "AUROC perplexity" not in before.columns and "AUROC perplexity" in after.columns
    assert {"AUROC perplexity_ci_low", "AUROC perplexity_ci_high"} <= set(after.columns)
    assert set(after.columns) - set(before.columns) == {"AUROC perplexity", "AUROC perplexity_ci_low",
                                                         "AUROC perplexity_ci_high"}
    pd.testing.assert_frame_equal(after[list(before.columns)], before)
    auroc_columns = [c for c in after.columns if c.startswith("AUROC")]
    assert len(auroc_columns) == 9 and after[auroc_columns].notna().all().all()


def test_a_third_run_with_the_same_measures_rescores_nothing(added):
    loader = CountingLoader()
    result = added["run"](NEW, loader)
    assert result.rescored == 0 and result.skipped == 2 and result.generated_examples == 0
    assert result.parent_run_id == added["first"].parent_run_id
    assert loader.calls == 0 and result.forward_calls == 0
    runs = children(added["uri"])
    assert runs.keys() == added["runs_after"].keys()
    for run_id, run in runs.items():
        assert run.data.metrics == added["runs_after"][run_id].data.metrics


def test_bench_table_shows_the_new_column(added):
    result = CliRunner().invoke(app, ["table", "tiny", "--tracking-uri", added["uri"]])
    assert result.exit_code == 0, result.output
    assert "AUROC perplexity" in result.output and "AUROC max_sequence_prob" in result.output
    assert "| greedy" in result.output and "| temperature(0.7)" in result.output
