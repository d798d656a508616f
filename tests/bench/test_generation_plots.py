"""Per-cell figures: the risk–coverage curve against a hand-computed one, step means, and the
figures a cell logs."""

from __future__ import annotations

import numpy as np
import pytest

from entropy_bench.methods.records import Generation
from entropy_bench.metrics.uq import aurc, risk_coverage
from entropy_bench.tracks.generation_plots import cell_figures, step_means


def test_risk_coverage_by_hand_and_its_area_is_aurc():
    scores, correct = np.array([0.1, 0.4, 0.2, 0.9]), np.array([1, 0, 1, 0])
    coverage, risk = risk_coverage(scores, correct)
    # kept least uncertain first: 0.1 (right), 0.2 (right), 0.4 (wrong), 0.9 (wrong)
    assert coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk == pytest.approx([0, 0, 1 / 3, 1 / 2])
    assert aurc(scores, correct) == pytest.approx(np.mean([0, 0, 1 / 3, 1 / 2]))


def test_risk_coverage_averages_ties():
    coverage, risk = risk_coverage([0.5, 0.5], [1, 0])
    assert risk == pytest.approx([0.5, 0.5])  # either order, on average


def test_step_means_over_the_rows_that_reach_each_step():
    assert step_means([[1.0, 3.0, 5.0], [3.0], []]).tolist() == [2.0, 3.0, 5.0]
    assert step_means([]).tolist() == []


def gen(entropy):
    n = len(entropy)
    return Generation(text="x", token_ids=list(range(n)), logprob=[-0.1] * n, entropy=entropy,
                      warped_logprob=[-0.1] * n, warped_entropy=[0.0] * n, top_ids=[[0]] * n,
                      top_logprobs=[[-0.1]] * n, finish_reason="eos")


def test_cell_figures_draw_their_data():
    generations = [gen([1.0, 2.0]), gen([3.0])]
    figures = cell_figures({"m": np.array([0.2, 0.8])}, np.array([1.0, 0.0]), generations, "t/greedy/seed=0")
    assert set(figures) == {"entropy_trace.png", "risk_coverage.png"}
    model_line = figures["entropy_trace.png"].axes[0].lines[0]
    assert model_line.get_ydata().tolist() == [2.0, 2.0]
    curve = figures["risk_coverage.png"].axes[0].lines[0]
    assert curve.get_xdata().tolist() == [0.5, 1.0] and curve.get_ydata().tolist() == [0.0, 0.5]
    assert set(cell_figures({}, np.array([1.0]), generations[:1], "t")) == {"entropy_trace.png"}
