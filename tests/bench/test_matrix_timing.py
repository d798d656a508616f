"""The matrix timing study at two tiny sizes: every route is timed, the speedups are the ratios of
the medians, and the CSV and Markdown files are written."""

import numpy as np
import pandas as pd
import pytest
import torch

from entropy_bench.studies.matrix_timing import ENTROPY_ROUTES, MNN_ROUTES, ROUTES, representation, run_matrix_timing


def test_rows_speedups_and_files(tmp_path):
    threads = torch.get_num_threads()
    table = run_matrix_timing(out_dir=tmp_path, sizes=[(16, 8), (16, 40)], repeats=3, warmup=1)

    assert torch.get_num_threads() == threads  # restored
    assert table[["n", "d"]].values.tolist() == [[16, 8], [16, 40]]
    for name in ROUTES:
        assert (table[f"{name}_median_ms"] > 0).all()
        assert (table[f"{name}_p20_ms"] <= table[f"{name}_median_ms"]).all()
        assert (table[f"{name}_median_ms"] <= table[f"{name}_p80_ms"]).all()
    for e in ENTROPY_ROUTES:
        for m in MNN_ROUTES:
            ratio = table[f"{e}_median_ms"] / table[f"{m}_median_ms"]
            assert np.allclose(table[f"speedup_{e}_vs_{m}"], ratio)

    saved = pd.read_csv(tmp_path / "matrix_timing.csv")
    assert saved.shape == table.shape
    text = (tmp_path / "matrix_timing.md").read_text()
    assert "8–24×" in text and "| 16 | 40 |" in text
    assert text.count("- `mnn_l12` vs") == len(ENTROPY_ROUTES)
    assert "along d at n = 16 (d = 8 → 40)" in text


def test_representation_is_seeded_float32():
    r = representation(12, 5, seed=3)
    assert r.dtype == torch.float32 and r.shape == (12, 5)
    assert torch.equal(r, representation(12, 5, seed=3))
    assert not torch.equal(r, representation(12, 5, seed=4))


@pytest.mark.parametrize("name", list(ROUTES))
def test_every_route_returns_a_finite_number(name):
    value = ROUTES[name](representation(32, 16, seed=0))
    assert np.isfinite(value) and value > 0
