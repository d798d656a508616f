"""The estimation track end to end: bias and RMSE against the known truth, a table row per
(distribution, n, estimator), figures on the parent run, and an estimator added later computed
alone from the cache."""

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.methods.registry import ESTIMATORS, UnknownMethodError
from entropy_bench.runner import run_sweep
from entropy_bench.tables import load_examples, render, summarise
from entropy_bench.tasks.base import TASKS
from entropy_bench.tracks.estimation import orderings
from entropy_bench.tracking import PARENT_ID_TAG

SPEC = {
    "name": "est",
    "track": "estimation",
    "distributions": [{"name": "zipf", "alphabet_size": 20}, {"name": "gaussian", "dim": 2}],
    "estimators": ["plugin", "miller_madow", "kozachenko_leonenko"],
    "sample_sizes": [10, 200],
    "seeds": [0, 1, 2, 3],
}


def spec(**changes):
    return sweep.parse({**SPEC, **changes})


def test_cells_are_distribution_by_size_and_estimators_go_to_their_kind_of_samples():
    cells = sweep.expand(spec())
    assert [c.label for c in cells] == [
        "zipf(alphabet_size=20,exponent=1.0)/n=10", "zipf(alphabet_size=20,exponent=1.0)/n=200",
        "gaussian(correlation=0.5,dim=2,scale=1.0)/n=10", "gaussian(correlation=0.5,dim=2,scale=1.0)/n=200",
    ]
    assert cells[0].scorer_ids == ("plugin", "miller_madow")
    assert cells[2].scorer_ids == ("kozachenko_leonenko(k=3)",)
    # estimators are not part of the key: adding one keeps the cells
    more = sweep.expand(spec(estimators=[*SPEC["estimators"], "grassberger"]))
    assert [c.key for c in more] == [c.key for c in cells]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"estimators": ["plug_in"]}, "did you mean 'plugin'"),
        ({"distributions": ["zipff"]}, "did you mean 'zipf'"),
        ({"estimators": ["ksg"]}, "reads paired samples"),
        ({"distributions": ["arithmetic"]}, "text task"),
        ({"sample_sizes": [0]}, "sample_sizes"),
        ({"seeds": [0, 0]}, "seed listed twice"),
    ],
)
def test_bad_specs_fail_before_anything_runs(changes, message):
    with pytest.raises((ValueError, UnknownMethodError), match=message):
        sweep.expand(spec(**changes))


def test_sweep_logs_bias_against_truth_and_rescoring_computes_only_the_new_estimator(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cache = tmp_path / "cache"
    first = run_sweep(spec(), tracking_uri=uri, cache_dir=cache, progress=False, out_dir=tmp_path / "out")
    assert first.cells == 4 and first.generated_examples == 4 * (2 * 2 + 1 * 2)  # seeds × estimators per cell

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("est")
    runs = client.search_runs([exp.experiment_id])
    kids = {r.data.params["distribution.name"] + "/" + r.data.params["sample_size"]: r
            for r in runs if PARENT_ID_TAG in r.data.tags}
    zipf = TASKS.build("zipf", alphabet_size=20)
    plug = [ESTIMATORS.build("plugin")(zipf.sample(200, s)) for s in range(4)]
    metrics = kids["zipf/200"].data.metrics
    assert metrics["est/plugin/truth"] == pytest.approx(zipf.truth("entropy"))
    assert metrics["est/plugin/bias"] == pytest.approx(np.mean(plug) - zipf.truth("entropy"))
    assert metrics["est/plugin/rmse"] == pytest.approx(np.sqrt(np.mean((np.array(plug) - zipf.truth("entropy")) ** 2)))
    assert metrics["est/plugin/bias_ci_low"] <= metrics["est/plugin/bias"] <= metrics["est/plugin/bias_ci_high"]

    parent = next(r for r in runs if PARENT_ID_TAG not in r.data.tags)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "orderings.md" in artifacts and "bias_vs_n" in artifacts
    assert sorted(p.name for p in (tmp_path / "out" / "bias_vs_n").iterdir()) == ["gaussian.png", "zipf.png"]

    table = summarise(load_examples(uri, "est"))
    assert len(table) == 2 * 2 + 2 * 1  # (distribution, n, estimator)
    row = table[(table["estimator"] == "plugin") & (table["sample_size"] == 200)].iloc[0]
    assert row["bias"] == pytest.approx(metrics["est/plugin/bias"])
    assert "RMSE" in render(table, "md")

    again = run_sweep(spec(estimators=[*SPEC["estimators"], "grassberger"]), tracking_uri=uri, cache_dir=cache,
                      progress=False)
    assert again.rescored == 2 and again.generated_examples == 2 * 4  # grassberger on the two zipf cells only
    assert len(client.search_runs([exp.experiment_id])) == len(runs)


def test_orderings_are_judged_on_the_measured_bias():
    import pandas as pd

    rows = []
    for n, (plugin, mm) in {10: (-1.0, -0.4), 20: (-0.5, -0.6)}.items():
        for estimator, bias in (("plugin", plugin), ("miller_madow", mm)):
            rows.append({"distribution": "d", "sample_size": n, "estimator": estimator, "truth": 3.0,
                         "|bias|": abs(bias), "|bias|_ci_low": abs(bias) - 0.05, "|bias|_ci_high": abs(bias) + 0.05})
    judged = orderings(pd.DataFrame(rows))
    assert judged[["n", "holds", "significant"]].values.tolist() == [[10, True, True], [20, False, False]]
