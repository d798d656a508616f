"""The kernel benchmark on a tiny shape: rows, skip reasons, CSV and MLflow run."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from entropy_bench import kernel_bench


def test_tiny_benchmark_writes_csv_and_mlflow_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is relative to the working directory
    monkeypatch.setattr(kernel_bench, "BANDWIDTH_BYTES", 1 << 22)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    table = kernel_bench.run_kernel_benchmark(
        shapes=[(8, 300, 16)],
        implementations=["ours:triton", "ours:torch", "eager", "liger"],
        repeats=2,
        out_dir=tmp_path / "kernels",
        tracking_uri=uri,
        threads=1,
    )
    assert len(table) == 2 * 4
    ok = table[table.status == "ok"]
    assert set(ok.implementation) == {"ours:torch", "eager"}
    assert (ok.median_ms > 0).all() and (ok.p20_ms <= ok.p80_ms).all() and (ok.peak_bytes >= 0).all()
    assert (ok[ok.implementation == "eager"].speedup_vs_eager == 1.0).all()
    lce = ok[ok.op == "linear_cross_entropy"]
    assert (lce.grad_bytes == (8 * 16 + 300 * 16) * 4).all()
    skipped = table[table.status == "skipped"].set_index(["op", "implementation"]).reason
    assert "CUDA" in skipped["softmax_stats", "ours:triton"]
    assert "no softmax_stats op" in skipped["softmax_stats", "liger"]
    assert skipped["linear_cross_entropy", "liger"]  # not installed, or no GPU
    assert set(table.threads) == {1} and table.device_name.notna().all()

    (csv,) = (tmp_path / "kernels").glob("*.csv")
    assert len(pd.read_csv(csv)) == len(table)
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("kernels").experiment_id])
    assert run.data.params["threads"] == "1"
    assert "softmax_stats/8x300x16/float32/eager/median_ms" in run.data.metrics
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == [csv.name]
