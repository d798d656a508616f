"""Properties of the discrete entropy estimators on hypothesis-generated counts.

Which bounds hold: every estimate is finite. The plug-in lies in [0, log m] (m observed
symbols); Miller–Madow in [0, log m + (m − 1)/(2n)]; Chao–Shen is ≥ 0 (each Horvitz–Thompson
term is); NSB lies in [0, log K] (a posterior mean of entropies on K symbols). The jackknife
has no such guarantee, but is ≥ 0 on every case hypothesis finds. Grassberger can be
negative (a point mass of 2 samples gives −0.037), so only finiteness is required of it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from entropy_bench.methods.registry import ESTIMATORS

counts_lists = st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=40)
large_counts = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12)


def build(name: str):
    return ESTIMATORS.build(name)


@settings(max_examples=150, deadline=None)
@given(counts=st.one_of(counts_lists, large_counts))
def test_sample_based_estimates_are_finite_and_bounded(counts):
    counts = np.array(counts)
    n, m = counts.sum(), np.count_nonzero(counts)
    values = {name: build(name).from_counts(counts, None) for name in ("plugin", "miller_madow", "jackknife", "chao_shen", "grassberger")}
    assert all(np.isfinite(v) for v in values.values())
    if n == 0:
        assert all(v == 0 for v in values.values())
        return
    log_m = np.log(m)
    assert 0 <= values["plugin"] <= log_m + 1e-12
    assert values["plugin"] - 1e-12 <= values["miller_madow"] <= log_m + (m - 1) / (2 * n) + 1e-12
    assert values["chao_shen"] >= 0
    assert values["jackknife"] >= -1e-12


@settings(max_examples=60, deadline=None)
@given(counts=counts_lists, unseen=st.integers(min_value=0, max_value=2000))
def test_nsb_is_finite_and_within_zero_and_log_k(counts, unseen):
    counts = np.array(counts)
    k = counts.size + unseen
    value = build("nsb").from_counts(counts, k)
    assert np.isfinite(value)
    assert 0 <= value <= np.log(k) + 1e-12


@settings(max_examples=40, deadline=None)
@given(counts=counts_lists, seed=st.integers(min_value=0, max_value=2**32 - 1), zeros=st.integers(min_value=0, max_value=10))
def test_permutations_and_extra_zeros_change_no_estimate(counts, seed, zeros):
    counts = np.array(counts)
    k = counts.size + zeros
    shuffled = np.random.default_rng(seed).permutation(np.concatenate([counts, np.zeros(zeros, dtype=int)]))
    for name in ("plugin", "miller_madow", "jackknife", "chao_shen", "grassberger", "nsb"):
        estimator = build(name)
        a, b = estimator.from_counts(counts, k), estimator.from_counts(shuffled, k)
        assert abs(a - b) <= 1e-12 * max(1.0, abs(a)) + 1e-13 * (name == "nsb") * max(1.0, abs(a)) * 1e3
