"""The UQ view: measures ranked per decoder with paired significance, and TSU per decoder family,
on hand-built per-example rows whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from entropy_bench.metrics.uq import auroc, prr
from entropy_bench.tracks.uq_table import family_and_temperature, rank_measures, render_markdown, temperature_sensitivity


@pytest.mark.parametrize(("decoder", "expected"), [
    ("temperature(temperature=0.7)+min_p(min_p=0.1)", ("min_p(min_p=0.1)", 0.7)),
    ("temperature(temperature=1.3)", ("temperature", 1.3)),
    ("temperature(temperature=1.0)+top_h(top_h=0.4,top_k=100)", ("top_h(top_h=0.4,top_k=100)", 1.0)),
    ("greedy", ("greedy", None)),
    ("top_p(top_p=0.9)", ("top_p(top_p=0.9)", None)),
])
def test_family_and_temperature_from_the_decoder_id(decoder, expected):
    assert family_and_temperature(decoder) == expected


def rows(decoder: str, correct, **scores) -> pd.DataFrame:
    n = len(correct)
    return pd.DataFrame({"model": "m", "task": "t", "decoder": decoder, "seed": 0, "id": [f"q{i}" for i in range(n)],
                         "correct": correct, **{f"uq:{k}": v for k, v in scores.items()}})


def test_an_oracle_ranks_first_and_noise_is_significantly_worse():
    rng = np.random.default_rng(0)
    correct = rng.integers(0, 2, 200).astype(float)
    oracle = 1 - correct + rng.normal(0, 0.01, 200)
    noisy_oracle = 1 - correct + rng.normal(0, 0.02, 200)
    noise = rng.normal(size=200)
    table = rank_measures(rows("greedy", correct, noise=noise, oracle=oracle, noisy_oracle=noisy_oracle), n_resamples=200)
    assert table["measure"].tolist() == ["oracle", "noisy_oracle", "noise"]
    assert table["rank"].tolist() == [1, 2, 3]
    best = table.iloc[0]
    assert best["AUROC"] == pytest.approx(auroc(oracle, correct)) and best["PRR"] == pytest.approx(prr(oracle, correct))
    assert best["AUROC_ci_low"] <= best["AUROC"] <= best["AUROC_ci_high"]
    assert table.set_index("measure").loc["noisy_oracle", "AUROC_near_best"]  # both perfect: within noise
    assert not table.set_index("measure").loc["noise", "AUROC_near_best"]
    assert not table.set_index("measure").loc["noise", "PRR_near_best"]


def test_seeds_of_an_example_are_pooled_before_ranking():
    correct = np.array([1.0, 0.0] * 10)
    two_seeds = pd.concat([rows("greedy", correct, s=1 - correct).assign(seed=s) for s in (0, 1)])
    table = rank_measures(two_seeds, n_resamples=50)
    assert table["n"].iloc[0] == 20


def test_tsu_per_family_over_its_temperatures():
    correct = np.array([1.0, 0.0, 1.0, 0.0])
    base = np.array([0.1, 0.2, 0.3, 0.4])
    frames = []
    for t in (0.7, 1.0, 1.3):
        frames.append(rows(f"temperature(temperature={t})+min_p(min_p=0.1)", correct,
                           rises=base * t, falls=base / t, mixed=np.where([1, 1, 1, 0], base * t, base / t)))
    frames.append(rows("greedy", correct, rises=base, falls=base, mixed=base))
    table = temperature_sensitivity(pd.concat(frames), n_resamples=50).set_index("measure")
    assert set(table["family"]) == {"min_p(min_p=0.1)"}  # greedy has no temperature
    assert table.loc["rises", "TSU"] == 1.0 and table.loc["falls", "TSU"] == 0.0
    assert table.loc["mixed", "TSU"] == 0.75
    assert table.loc["rises", "temperatures"] == [0.7, 1.0, 1.3]
    text = render_markdown(rank_measures(pd.concat(frames), n_resamples=50), temperature_sensitivity(pd.concat(frames), n_resamples=50))
    assert "## greedy" in text and "| `mixed` | 0.75 [" in text
    assert "(paired bootstrap over the same examples, 50 resamples, 95 %)" in text  # the test behind `≈`


def test_bad_view_or_format_is_an_input_error_before_the_store_is_read(tmp_path):
    from typer.testing import CliRunner

    from entropy_bench.cli import app

    uri = f"sqlite:///{tmp_path / 'absent.db'}"
    result = CliRunner().invoke(app, ["table", "x", "--tracking-uri", uri, "--view", "uqq"])
    assert result.exit_code == 2 and "did you mean 'uq'" in result.output
    result = CliRunner().invoke(app, ["table", "x", "--tracking-uri", uri, "--view", "uq", "--format", "html"])
    assert result.exit_code == 2 and "md or csv" in result.output
    assert not (tmp_path / "absent.db").exists()
