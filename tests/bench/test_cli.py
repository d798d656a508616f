"""``bench`` CLI: bad input exits 2 with a precise message and writes nothing to MLflow."""

import pytest
from typer.testing import CliRunner

from entropy_bench.cli import app

from sweep_fixtures import tiny_sweep, write

runner = CliRunner()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def bench(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"decoders": ["top-p"]}, "did you mean 'top_p'"),
        ({"decoders": ["greedy", {"name": "temprature", "temperature": 0.5}]}, "did you mean 'temperature'"),
        ({"tasks": ["arithmetc"]}, "did you mean 'arithmetic'"),
        ({"uncertainty": ["max_sequence_probability"]}, "did you mean 'max_sequence_prob'"),
        ({"decoders": [{"name": "top_p", "top_p": 1.5}]}, "'top_p'"),
        ({"decoders": [{"name": "temperature", "temperature": -1}]}, "'temperature'"),
        ({"limit": 0}, "'limit'"),
        ({"tasks": [{"name": "arithmetic", "limit": 0}]}, "'limit'"),
        ({"tasks": [{"name": "arithmetic", "digits": 0}]}, "'digits'"),
        ({"seeds": []}, "'seeds'"),
        ({"colour": "blue"}, "'colour'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(in_tmp, tiny_model_dir, override, expected):
    path = write(tiny_sweep(tiny_model_dir, **override), in_tmp / "sweep.yaml")
    result = bench("run", str(path))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert not (in_tmp / "mlruns.db").exists() and not (in_tmp / "mlruns").exists()
    assert not (in_tmp / ".bench_cache").exists()


def test_missing_sweep_file_exits_2(in_tmp):
    result = bench("run", "no/such/sweep.yaml")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_run_prints_table_and_table_command_renders_formats(in_tmp, tiny_model_dir):
    path = write(tiny_sweep(tiny_model_dir), in_tmp / "sweep.yaml")
    result = bench("run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "| task" in result.output and "greedy" in result.output and "AUROC max_sequence_prob" in result.output
    assert (in_tmp / "mlruns.db").exists()
    for fmt, marker in [("md", "| decoder"), ("html", "<table"), ("csv", "accuracy_ci_low"), ("latex", "\\begin{tabular}")]:
        out = bench("table", "tiny", "--format", fmt)
        assert out.exit_code == 0 and marker in out.output, out.output
    assert bench("table", "tiny", "--format", "docx").exit_code == 2
    assert bench("table", "no-such-experiment").exit_code == 2


def test_ls_lists_methods_with_papers_and_suggests_families():
    result = bench("ls", "decoders")
    assert result.exit_code == 0
    assert "top_p(top_p=0.9)" in result.output and "Holtzman" in result.output
    out = bench("ls")
    for family in ("decoders:", "uncertainty:", "tasks:", "models:"):
        assert family in out.output
    assert "HuggingFaceTB/SmolLM2-135M-Instruct (default)" in out.output
    bad = bench("ls", "decoder")
    assert bad.exit_code == 2 and "did you mean 'decoders'" in bad.output
