"""The decoder-overhead benchmark on the tiny model: every single-model decoder is timed, rules
transformers also has are compared with its warper, and the files and the MLflow run are written."""

import pandas as pd
from mlflow.tracking import MlflowClient

from entropy_bench.methods.registry import DECODERS
from entropy_bench.models.hf import load_model
from entropy_bench.studies.decoder_overhead import run_decoder_overhead


def test_overhead_rows_files_and_run(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's artifact root
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    lm = load_model(str(tiny_model_dir))
    table = run_decoder_overhead(context=16, repeats=2, warmup=1, tracking_uri=uri, out_dir=tmp_path / "out", lm=lm)

    assert list(table["rows"].unique()) == ["real", "flat", "zipf", "bell"]
    assert (table.groupby("rows").size() == len(table) // 4).all()  # every decoder on every family
    names = {d.split("(")[0] for d in table["decoder"]}
    assert "ead" not in names  # two-model decoders are left out
    assert {"greedy", "top_p", "min_p", "mirostat_v2", "entropy_band"} <= names <= set(DECODERS.names())
    with_warper = table[table["transformers_warper"] != ""]
    assert set(with_warper["decoder"].str.split("(").str[0]) == {
        "temperature", "top_k", "top_p", "min_p", "typical", "epsilon", "eta", "top_h"
    }
    assert (with_warper["ratio_to_warper"] > 0).all() and (table["median_ms"] > 0).all()
    assert (table["forward_median_ms"] > 0).all()
    assert pd.read_csv(tmp_path / "out" / "overhead.csv").shape[0] == len(table)
    assert "| `greedy` |" in (tmp_path / "out" / "overhead.md").read_text()
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("decoder-overhead").experiment_id])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"overhead.csv", "overhead.md"}
    assert run.data.metrics["forward/median_ms"] > 0 and run.data.metrics["check/median_ms"] > 0
    assert "## Zipf" in (tmp_path / "out" / "overhead.md").read_text()
