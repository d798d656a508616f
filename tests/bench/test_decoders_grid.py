"""The decoders-grid study: rules and temperatures read from decoder ids, the verdict on the
top-nσ claim from hand-made accuracies, and the shipped sweep's shape."""

import pandas as pd

from entropy_bench import sweep
from entropy_bench.studies.decoders_grid import by_rule, plot, rule_and_temperature, verdict


def test_rule_and_temperature_from_decoder_ids():
    assert rule_and_temperature("top_n_sigma(n=1.0)+temperature(temperature=2.0)") == ("top_n_sigma(n=1.0)", 2.0)
    assert rule_and_temperature("temperature(temperature=0.7)+top_p(top_p=0.9)") == ("top_p(top_p=0.9)", 0.7)
    assert rule_and_temperature("temperature(temperature=1.5)") == ("temperature", 1.5)
    assert rule_and_temperature("greedy") == ("greedy", None)


def summary(acc: dict[tuple[str, float], float], width: float = 0.05) -> pd.DataFrame:
    rows = [{"decoder": "greedy", "accuracy": 0.5, "accuracy_ci_low": 0.45, "accuracy_ci_high": 0.55}]
    names = {"sigma": "top_n_sigma(n=1.0)+temperature(temperature={T})",
             "top_p": "temperature(temperature={T})+top_p(top_p=0.9)",
             "min_p": "temperature(temperature={T})+min_p(min_p=0.1)"}
    for (rule, T), a in acc.items():
        rows.append({"decoder": names[rule].format(T=T), "accuracy": a,
                     "accuracy_ci_low": a - width, "accuracy_ci_high": a + width})
    return pd.DataFrame(rows)


def test_verdict_holds_significantly_only_when_the_cis_separate():
    acc = {("sigma", 0.7): 0.5, ("sigma", 2.0): 0.45, ("top_p", 0.7): 0.5, ("top_p", 2.0): 0.1,
           ("min_p", 0.7): 0.5, ("min_p", 2.0): 0.2}
    grid = by_rule(summary(acc))
    assert list(grid["rule"].unique()) == ["min_p(min_p=0.1)", "top_n_sigma(n=1.0)", "top_p(top_p=0.9)"]
    assert "holds, with CIs separated" in verdict(grid)
    assert "holds, but the CIs overlap" in verdict(by_rule(summary(acc, width=0.2)))
    acc[("sigma", 2.0)] = 0.15
    text = verdict(by_rule(summary(acc)))
    assert "does not hold" in text and "| top_n_sigma(n=1.0) | 0.500 [0.450, 0.550] | 0.150 [0.100, 0.200] | +0.350 |" in text
    plot(by_rule(summary(acc)), 0.5)  # draws without error


def test_the_shipped_grid_chains_every_rule_with_four_temperatures():
    cells = sweep.expand(sweep.load("decoders-grid"))
    grid = by_rule(pd.DataFrame({"decoder": [c.decoder.id for c in cells]}).assign(
        accuracy=0.0, accuracy_ci_low=0.0, accuracy_ci_high=0.0))
    assert sorted(grid["T"].unique()) == [0.7, 1.0, 1.5, 2.0]
    assert grid.groupby("rule").size().eq(4).all() and grid["rule"].nunique() == 9
