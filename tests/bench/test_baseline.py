"""``bench baseline`` and ``bench compare --baseline NAME --report FILE``, and the CI regression
check (``.ci/regression`` with the shipped sweep ``ci-regression``).

One tiny sweep (greedy, temperature 0.7) is the current result. A baseline written from it is
identical to ``bench table --format csv``; comparing with it exits 0. A planted regression (the
baseline's CI moved above the current value) exits 1 and the report lists every metric that was
moved, with the status derived here by hand.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from entropy_bench import sweep
from entropy_bench.cli import app
from entropy_bench.compare import BASELINES, baseline_path, is_baseline_name

from sweep_fixtures import tiny_sweep, write

ROOT = Path(__file__).resolve().parents[2]
GREEDY, TEMP = "greedy", "temperature(temperature=0.7)"
runner = CliRunner()


def bench(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def uri(tiny_model_dir, tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("sweep")
    store = f"sqlite:///{tmp / 'mlruns.db'}"
    result = bench("run", write(tiny_sweep(tiny_model_dir), tmp / "sweep.yaml"), "--tracking-uri", store,
                   "--cache-dir", tmp / "cache", "--no-progress")
    assert result.exit_code == 0, result.output
    return store


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def one_error_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def section(report: str, title: str) -> list[str]:
    """The rows of the Markdown table under ``## title``."""
    lines = report.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return lines[2:]  # header, rule


# --- bench baseline --------------------------------------------------------------------------------


def test_a_baseline_is_the_table_as_bench_table_writes_its_csv(uri, here):
    result = bench("baseline", "tiny", "smoke", "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    assert "results/baselines/smoke.csv" in result.stderr
    assert bench("table", "tiny", "--format", "csv", "-o", "table.csv", "--tracking-uri", uri).exit_code == 0
    written = (here / "results/baselines/smoke.csv").read_text()
    assert written == (here / "table.csv").read_text()
    assert set(pd.read_csv(here / "table.csv")["decoder"]) == {GREEDY, TEMP}
    assert bench("baseline", "tiny", "smoke", "--tracking-uri", uri, "--out-dir", "elsewhere/b").exit_code == 0
    assert (here / "elsewhere/b/smoke.csv").read_text() == written


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "x.csv", ""])
def test_a_baseline_name_must_be_bare(uri, here, name):
    line = one_error_line(bench("baseline", "tiny", name, "--tracking-uri", uri))
    assert "invalid NAME" in line and repr(name) in line
    assert list(here.iterdir()) == []


def test_baseline_bad_input_writes_nothing(uri, here):
    assert "no MLflow experiment 'nosuch'" in one_error_line(bench("baseline", "nosuch", "x", "--tracking-uri", uri))
    (here / "afile").write_text("x")
    assert "'--out-dir'" in one_error_line(bench("baseline", "tiny", "x", "--tracking-uri", uri, "--out-dir", "afile"))
    assert "no tracking store" in one_error_line(bench("baseline", "tiny", "x", "--tracking-uri",
                                                       f"sqlite:///{here / 'absent.db'}"))
    assert "'--parent'" in one_error_line(bench("baseline", "tiny", "x", "--tracking-uri", uri, "--parent", "a'b"))
    assert [p.name for p in here.iterdir()] == ["afile"]


# --- bench compare ---------------------------------------------------------------------------------


def test_baseline_names_and_paths():
    assert BASELINES == Path("results/baselines")
    assert baseline_path("ci-regression") == BASELINES / "ci-regression.csv"
    assert baseline_path("v1.2") == BASELINES / "v1.2.csv"
    for path in ("base.csv", "a/b", "./x", "/abs/b.csv", "../up"):
        assert baseline_path(path) == Path(path)
    assert not is_baseline_name("") and not is_baseline_name(".x") and is_baseline_name("_x-1")


def test_a_bare_name_that_names_a_file_here_is_that_file(here):
    (here / "base").mkdir()
    assert baseline_path("base") == Path("base")


def test_identical_results_exit_0_by_name_by_path_and_by_default(uri, here):
    assert bench("baseline", "tiny", "tiny", "--tracking-uri", uri).exit_code == 0
    for args in (["--baseline", "tiny"], ["--baseline", "results/baselines/tiny.csv"], []):
        result = bench("compare", "tiny", *args, "--tracking-uri", uri, "--report", "report.md")
        assert result.exit_code == 0, result.output
        assert result.stderr == "no regression against results/baselines/tiny.csv\n"
        report = (here / "report.md").read_text()
        assert report.startswith("# Regression report: tiny against results/baselines/tiny.csv\n")
        tally = set(report.split("\n\n")[1].split(".")[0].replace(",", "").split())
        assert "## Changed" not in report and not {"regressed", "changed", "added", "missing"} & tally, tally
        rows = section(report, "All metrics")
        assert len(rows) == len(result.stdout.strip().splitlines()) - 2  # the table printed, row for row
        assert all(row.rstrip(" |").endswith(("ok", "n/a")) for row in rows)


def plant(baseline: pd.DataFrame) -> pd.DataFrame:
    """Greedy's accuracy CI moved above its value (a fall: regressed); temperature's mean entropy
    CI moved below its value and its Δ accuracy CI above it (no good direction: changed)."""
    out = baseline.copy()
    greedy, temp = out.index[out["decoder"] == GREEDY][0], out.index[out["decoder"] == TEMP][0]
    shifts = [(greedy, "accuracy", +0.3), (temp, "mean entropy", -0.5), (temp, "Δ accuracy vs greedy", +0.15)]
    for row, metric, shift in shifts:
        value = baseline.loc[row, metric]
        out.loc[row, [metric, f"{metric}_ci_low", f"{metric}_ci_high"]] = [value + shift, value + shift - 0.1,
                                                                           value + shift + 0.1]
    return out


def test_a_planted_regression_exits_1_and_the_report_lists_every_changed_metric(uri, here):
    assert bench("baseline", "tiny", "tiny", "--tracking-uri", uri).exit_code == 0
    plant(pd.read_csv(here / "results/baselines/tiny.csv")).to_csv(here / "planted.csv", index=False)
    result = bench("compare", "tiny", "--baseline", "planted.csv", "--tracking-uri", uri, "--report", "report.md")
    assert result.exit_code == 1, result.output
    assert result.stderr == "1 regression(s) against planted.csv\n"
    report = (here / "report.md").read_text()
    assert report.split("\n\n")[1].startswith(f"{len(section(report, 'All metrics'))} values compared: "
                                               "1 regressed, 2 changed, ")
    changed = {tuple(c.strip() for c in row.split("|")[1:-1]) for row in section(report, "Changed")}
    listed = {(cells[2], cells[3], cells[-1]) for cells in changed}  # model, task, decoder, metric, …, status
    assert listed == {(GREEDY, "accuracy", "regressed"), (TEMP, "mean entropy", "changed"),
                      (TEMP, "Δ accuracy vs greedy", "changed")}
    assert sum(row.rstrip(" |").endswith(("regressed", "changed")) for row in section(report, "All metrics")) == 3


def test_a_missing_row_is_a_regression(uri, here):
    assert bench("baseline", "tiny", "tiny", "--tracking-uri", uri).exit_code == 0
    base = pd.read_csv(here / "results/baselines/tiny.csv")
    extra = base.iloc[[0]].assign(decoder="top_k(top_k=5)")
    pd.concat([base, extra]).to_csv(here / "results/baselines/tiny.csv", index=False)
    result = bench("compare", "tiny", "--tracking-uri", uri, "--report", "report.md")
    assert result.exit_code == 1, result.output
    missing = [row for row in section((here / "report.md").read_text(), "Changed") if "top_k(top_k=5)" in row]
    assert missing and all(row.rstrip(" |").endswith("missing") for row in missing)


def test_compare_bad_input(uri, here):
    line = one_error_line(bench("compare", "tiny", "--baseline", "nosuch", "--tracking-uri", uri))
    assert line == ("error: baseline 'results/baselines/nosuch.csv' does not exist "
                    "(write one with: bench baseline tiny nosuch)")
    line = one_error_line(bench("compare", "tiny", "--baseline", "b/x.csv", "--tracking-uri", uri))
    assert "(write one with: bench table tiny --format csv -o b/x.csv)" in line
    assert "'--report'" in one_error_line(bench("compare", "tiny", "--tracking-uri", uri, "--report", "no/dir/r.md"))
    assert list(here.iterdir()) == []


# --- the CI regression check -----------------------------------------------------------------------


def test_the_ci_regression_sweep_is_shipped_small():
    plan = sweep.plan(sweep.load("ci-regression"))
    assert plan.spec.name == "ci-regression" and len(plan.cells) == 2
    assert {c.decoder.id for c in plan.cells} == {GREEDY, TEMP}
    assert {c.task_run.limit for c in plan.cells} == {50}


STUB = """#!/usr/bin/env bash
# bench, as .ci/regression calls it: logs its arguments; compare writes a report and exits $COMPARE_EXIT
echo "$*" >> "$LOG"
if [[ $1 == compare ]]; then
    while [[ $# -gt 0 ]]; do [[ $1 == --report ]] && echo "# report of $LOG" > "$2"; shift; done
    exit "$COMPARE_EXIT"
fi
"""


@pytest.mark.parametrize("code", [0, 1])
def test_the_ci_script_runs_the_sweep_into_a_fresh_store_and_prints_the_report(tmp_path, code):
    stub = tmp_path / "bench"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {**os.environ, "BENCH": str(stub), "LOG": str(log), "COMPARE_EXIT": str(code)}
    done = subprocess.run([ROOT / ".ci/regression"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert done.stdout == f"# report of {log}\n"
    run, compare = [line.split() for line in log.read_text().splitlines()]
    store = run[run.index("--tracking-uri") + 1]
    work = Path(store.removeprefix("sqlite:///")).parent
    assert run[:2] == ["run", "ci-regression"] and run[run.index("--cache-dir") + 1] == str(work / "cache")
    assert compare[:4] == ["compare", "ci-regression", "--baseline", "ci-regression"]
    assert compare[compare.index("--tracking-uri") + 1] == store
    assert not work.exists()  # the temporary store, cache and report are removed
    kept = tmp_path / "kept.md"
    done = subprocess.run([ROOT / ".ci/regression", kept], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == code and kept.read_text() == done.stdout
