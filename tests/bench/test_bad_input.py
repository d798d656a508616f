"""Every expected failure of ``bench`` is one line ``error: …`` naming the field, option or path:
exit 2 for bad input, with nothing written (no tracking store, no cache, no output directory);
exit 1 for a runtime failure; never a traceback, unless ``bench --debug``.

Most cases run in-process through typer's CliRunner with the test's tmp dir as the working
directory (fast); a handful run the real CLI in a subprocess, which also covers what only the
installed entry point does (one-line usage errors, the exit status, stderr as a whole).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from typer.testing import CliRunner

from entropy_bench.cli import app

from sweep_fixtures import tiny_sweep, write

runner = CliRunner()
WRITTEN = ("mlruns.db", "mlruns", ".bench_cache", "cache", "out")  # what a command would create here
ROOT = os.geteuid() == 0


# --- making paths unreadable / unwritable, also as root ----------------------------------


def _immutable(path: Path, request) -> None:
    """``chattr +i``: even root cannot write it (chmod does not stop root)."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip("running as root and chattr +i is unavailable: cannot make a path unwritable")
    request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(path)], capture_output=True))


def unwritable(path: Path, request) -> None:
    if ROOT:
        _immutable(path, request)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        request.addfinalizer(lambda: path.chmod(mode))


def unreadable(path: Path, request, monkeypatch) -> None:
    if not ROOT:
        path.chmod(0)
        request.addfinalizer(lambda: path.chmod(0o644))
        return
    read_text = Path.read_text  # root reads any file: fail the read the way a chmod 000 would

    def denied(self, *args, **kwargs):
        if self.absolute() == path.absolute():
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)


def sqlite_file(path: Path) -> Path:
    """A valid SQLite database that is not (yet) an MLflow store."""
    with sqlite3.connect(path) as db:
        db.execute("create table t (x)")
    return path


# --- the table ----------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    id: str
    args: list[str]  # "{sweep}" is the written sweep file; "{model}" the tiny model directory
    names: tuple[str, ...]  # substrings of the one error line (the field / option / path)
    code: int = 2
    sweep: dict | str | None = None  # top-level fields replacing tiny_sweep's, or the file's raw text
    setup: Callable[..., Any] | None = None  # (tmp, request, monkeypatch) before the command


def s(**overrides) -> dict:
    return overrides


def chain(n: int) -> list:
    return [[{"name": "temperature", "temperature": 0.5 + i / 100} for i in range(n)]]


def _dir_without_config(tmp, *_):
    (tmp / "not-a-model").mkdir()


def _file(name: str, content: bytes = b"x"):
    def setup(tmp, *_):
        (tmp / name).write_bytes(content)

    return setup


def _data_dir(name: str, file: str | None = None, content: bytes = b""):
    """``$BENCH_DATA_DIR`` = ``tmp/name``, holding ``file`` with ``content`` (nothing if ``None``)."""

    def setup(tmp, request, monkeypatch):
        monkeypatch.setenv("BENCH_DATA_DIR", str(tmp / name))
        if file is not None:
            (tmp / name / file).parent.mkdir(parents=True)
            (tmp / name / file).write_bytes(content)

    return setup


def _unreadable_sweep(tmp, request, monkeypatch):
    unreadable(tmp / "sweep.yaml", request, monkeypatch)


def _unwritable_cache_parent(tmp, request, _):
    (tmp / "locked").mkdir()
    unwritable(tmp / "locked", request)


def _store(name: str, content: bytes | None = None, *, readonly: bool = False):
    def setup(tmp, request, _):
        path = tmp / name
        if content is None:
            sqlite_file(path)
        else:
            path.write_bytes(content)
        if readonly:
            unwritable(path, request)

    return setup


def _unwritable_cwd(tmp, request, monkeypatch):
    (tmp / "ro").mkdir()
    unwritable(tmp / "ro", request)
    monkeypatch.chdir(tmp / "ro")


ESTIMATION = {"name": "est", "track": "estimation", "estimators": ["plugin"], "sample_sizes": [10],
              "distributions": [{"name": "zipf", "alphabet_size": 10}]}


def _estimation(**changes) -> str:
    return yaml.safe_dump({**ESTIMATION, **changes})


def _baseline_dir(tmp, *_):
    sqlite_file(tmp / "store.db")
    (tmp / "base").mkdir()


def _baseline_garbage(tmp, *_):
    sqlite_file(tmp / "store.db")
    (tmp / "base.csv").write_bytes(bytes(range(256)) * 4)


RANDOM = bytes((i * 131 + 17) % 256 for i in range(4096))  # no SQLite header
LONG = "x" * 300
RUN = ["run", "{sweep}", "--no-progress"]

CASES = [
    # the sweep file
    Case("yaml-syntax", RUN, ("sweep.yaml", "invalid YAML at line 2"), sweep="name: tiny\nlimit: : 3\nseeds: [0]\n"),
    Case("yaml-duplicate-key", RUN, ("line 2", "'name' is given twice"), sweep="name: a\nname: b\n"),
    Case("yaml-empty", RUN, ("sweep.yaml", "is empty"), sweep=""),
    Case("yaml-list", RUN, ("mapping", "got a list"), sweep="- a\n- b\n"),
    Case("yaml-not-utf8", RUN, ("sweep.yaml", "UTF-8"), sweep="name: caf\udce9\n"),
    Case("sweep-is-directory", ["run", "adir", "--no-progress"], ("'adir'", "is a directory"),
         setup=lambda tmp, *_: (tmp / "adir").mkdir()),
    Case("sweep-unreadable", RUN, ("cannot read", "sweep.yaml"), sweep=s(), setup=_unreadable_sweep),
    Case("sweep-missing", ["run", "nowhere/sweep.yaml"], ("'nowhere/sweep.yaml'", "does not exist")),
    Case("sweep-unknown-shipped", ["run", "defualt"], ("'defualt'", "no shipped sweep")),
    # types, no silent coercion
    Case("limit-string", RUN, ("'limit'", "'2'"), sweep=s(limit="2")),
    Case("limit-bool", RUN, ("'limit'", "True"), sweep=s(limit=True)),
    Case("seeds-string", RUN, ("'seeds.0'", "'a'"), sweep=s(seeds=["a"])),
    Case("max-new-tokens-float", RUN, ("'max_new_tokens'", "1.5"), sweep=s(max_new_tokens=1.5)),
    Case("batch-size-zero", RUN, ("'batch_size'",), sweep=s(batch_size=0)),
    Case("name-int", RUN, ("'name'",), sweep=s(name=123)),
    Case("unknown-field", RUN, ("'limt'", "did you mean 'limit'"), sweep=s(limt=3)),
    Case("decoder-not-a-spec", RUN, ("'decoders.0'",), sweep=s(decoders=[1])),
    Case("unknown-track", RUN, ("unknown track 'generate'",), sweep=s(track="generate")),
    Case("task-limit-string", RUN, ("'limit'", "arithmetic"),
         sweep=s(tasks=[{"name": "arithmetic", "limit": "2"}])),
    Case("top-k-float", RUN, ("'top_k'", "must be an integer"), sweep=s(decoders=[{"name": "top_k", "top_k": 5.0}])),
    Case("temperature-bool", RUN, ("'temperature'",), sweep=s(decoders=[{"name": "temperature", "temperature": True}])),
    # non-finite numbers
    Case("temperature-inf", RUN, ("'temperature'", "finite"),
         sweep=s(decoders=[{"name": "temperature", "temperature": float("inf")}])),
    Case("temperature-nan", RUN, ("'temperature'", "nan"),
         sweep=s(decoders=[{"name": "temperature", "temperature": float("nan")}])),
    Case("top-p-nan", RUN, ("'top_p'", "nan"), sweep=s(decoders=[{"name": "top_p", "top_p": float("nan")}])),
    Case("ead-threshold-nan", RUN, ("'threshold'", "nan"),
         sweep=s(decoders=[{"name": "ead", "large_model": "{model}", "threshold": float("nan")}])),
    # names beyond MLflow's limits
    Case("name-too-long", RUN, ("'name'", "241"), sweep=s(name=LONG)),
    Case("name-newline", RUN, ("'name'", "control"), sweep=s(name="two\nlines")),
    Case("name-blank-edges", RUN, ("'name'", "whitespace"), sweep=s(name=" tiny ")),
    Case("run-name-too-long", RUN, ("run name", "250"), sweep=s(decoders=chain(12))),
    # models
    Case("model-unknown-id", RUN, ("'models'", "'nosuch-org/nosuch-model'"), sweep=s(models=["nosuch-org/nosuch-model"])),
    Case("model-missing-path", RUN, ("'models'", "/no/such/model"), sweep=s(models=["/no/such/model"])),
    Case("model-dir-without-config", RUN, ("'models'", "config.json"), sweep=s(models=["./not-a-model"]),
         setup=_dir_without_config),
    Case("model-too-many-layers", RUN, ("'models'", "layers=9"), sweep=s(models=["{model}#layers=9"])),
    Case("large-model-unknown", RUN, ("'large_model'", "nosuch-org/large"),
         sweep=s(decoders=[{"name": "ead", "large_model": "nosuch-org/large"}])),
    Case("max-new-tokens-beyond-context", RUN, ("'max_new_tokens'", "512"),
         sweep=s(tasks=[{"name": "arithmetic", "limit": 2, "max_new_tokens": 4096}])),
    # options of bench run
    Case("format-unknown", [*RUN, "--format", "xyz"], ("'--format'", "'xyz'"), sweep=s()),
    Case("limit-zero", [*RUN, "--limit", "0"], ("'--limit'",), sweep=s()),
    Case("limit-negative", [*RUN, "--limit", "-3"], ("'--limit'", "-3"), sweep=s()),
    Case("tracking-uri-scheme", [*RUN, "--tracking-uri", "foo://bar"], ("'--tracking-uri'", "'foo'"), sweep=s()),
    Case("tracking-uri-sqlite-form", [*RUN, "--tracking-uri", "sqlite:/x.db"], ("'--tracking-uri'", "sqlite:///"),
         sweep=s()),
    Case("tracking-uri-under-a-file", [*RUN, "--tracking-uri", "sqlite:///afile/x.db"], ("'--tracking-uri'", "afile"),
         sweep=s(), setup=_file("afile")),
    Case("cache-dir-is-file", [*RUN, "--cache-dir", "afile"], ("'--cache-dir'", "'afile'"), sweep=s(),
         setup=_file("afile")),
    Case("cache-dir-unwritable", [*RUN, "--cache-dir", "locked/cache"], ("'--cache-dir'", "not writable"), sweep=s(),
         setup=_unwritable_cache_parent),
    Case("cwd-unwritable", RUN, ("'--tracking-uri'", "/mlruns.db", "working directory", "not writable"),
         sweep=s(), setup=_unwritable_cwd),
    Case("limit-on-estimation", [*RUN, "--limit", "3"], ("'--limit'", "estimation"), sweep=_estimation()),
    Case("lm-distribution-model-unknown", RUN, ("'distributions'", "'model'", "nosuch-org/lm"),
         sweep=_estimation(distributions=[{"name": "lm_next_token", "model": "nosuch-org/lm"}])),
    Case("out-dir-is-file", [*RUN, "--out-dir", "afile"], ("'--out-dir'", "'afile'"), sweep=s(), setup=_file("afile")),
    # stores
    Case("run-corrupt-store", [*RUN, "--tracking-uri", "sqlite:///bad.db"], ("/bad.db is not an SQLite",),
         sweep=s(), setup=_store("bad.db", RANDOM)),
    Case("run-read-only-store", [*RUN, "--tracking-uri", "sqlite:///ro.db"], ("/ro.db is not writable",),
         sweep=s(), setup=_store("ro.db", readonly=True)),
    Case("run-store-is-directory", [*RUN, "--tracking-uri", "sqlite:///adir"], ("/adir is a directory",),
         sweep=s(), setup=lambda tmp, *_: (tmp / "adir").mkdir()),
    Case("table-missing-store", ["table", "nosuch"], ("no tracking store at sqlite:///", "/mlruns.db")),
    Case("table-corrupt-store", ["table", "tiny", "--tracking-uri", "sqlite:///bad.db"], ("not an SQLite",),
         setup=_store("bad.db", RANDOM)),
    Case("table-broken-sqlite", ["table", "tiny", "--tracking-uri", "sqlite:///bad.db"], ("DatabaseError",), code=1,
         setup=_store("bad.db", b"SQLite format 3\x00" + RANDOM)),
    Case("table-format", ["table", "tiny", "--format", "docx"], ("'--format'", "'docx'")),
    Case("table-parent", ["table", "tiny", "--parent", "x' or '1'='1"], ("'--parent'",)),
    Case("table-output-dir-missing", ["table", "tiny", "-o", "nowhere/t.md"], ("'--output'", "nowhere")),
    Case("compare-missing-store", ["compare", "tiny", "--baseline", "afile"], ("no tracking store",),
         setup=_file("afile")),
    Case("compare-baseline-dir", ["compare", "tiny", "--tracking-uri", "sqlite:///store.db", "--baseline", "base"],
         ("'--baseline'", "'base'"), setup=_baseline_dir),
    Case("compare-baseline-garbage", ["compare", "tiny", "--tracking-uri", "sqlite:///store.db", "--baseline",
                                      "base.csv"], ("'--baseline'", "base.csv"), setup=_baseline_garbage),
    Case("ui-missing-store", ["ui"], ("no tracking store",)),
    # task data ($BENCH_DATA_DIR)
    Case("data-file-missing", RUN, ("no-data/gsm8k/test.jsonl: not found", "expected rows with the fields question"),
         sweep=s(tasks=[{"name": "gsm8k", "limit": 2}]), setup=_data_dir("no-data")),
    Case("data-file-not-json", RUN, ("math500/test.jsonl: not JSON lines", "fields problem, solution, answer"),
         sweep=s(tasks=[{"name": "math500", "limit": 2}]), setup=_data_dir("data", "math500/test.jsonl", b"{oops\n")),
    Case("data-row-without-field", RUN, ("longbench/qasper.jsonl: row 1 (from 0) has no context",),
         sweep=s(tasks=[{"name": "longbench", "dataset": "qasper", "limit": 2}]),
         setup=_data_dir("data", "longbench/qasper.jsonl", b'{"input": "q", "context": "c", "answers": ["a"], '
                         b'"length": 3, "all_classes": null, "_id": "x"}\n{"input": "q", "answers": ["a"], '
                         b'"length": 3, "all_classes": null, "_id": "y"}\n')),
    # other commands
    Case("ls-family", ["ls", "decoder"], ("did you mean 'decoders'",)),
    Case("study-name", ["study", "miro"], ("unknown study 'miro'",)),
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Working directory = tmp_path; no tracking URI or cache from the environment; the hub offline."""
    from entropy_bench.models import hf

    monkeypatch.chdir(tmp_path)
    for var in ("MLFLOW_TRACKING_URI", "BENCH_CACHE", "MLFLOW_LOGGING_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf, "hub_reachable", lambda: False)
    return tmp_path


def prepare(case: Case, tmp: Path, model_dir: Path, request, monkeypatch) -> list[str]:
    sub = {"{sweep}": str(tmp / "sweep.yaml"), "{model}": str(model_dir)}
    if isinstance(case.sweep, str):
        (tmp / "sweep.yaml").write_bytes(case.sweep.encode("utf-8", "surrogateescape"))
    elif isinstance(case.sweep, dict):
        text = yaml.safe_dump({**tiny_sweep(model_dir), **case.sweep})
        for key, value in sub.items():
            text = text.replace(key, value)
        (tmp / "sweep.yaml").write_text(text)
    if case.setup:
        case.setup(tmp, request, monkeypatch)
    args = []
    for arg in case.args:
        for key, value in sub.items():
            arg = arg.replace(key, value)
        args.append(arg)
    return args


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def check(code: int, stdout: str, stderr: str, case: Case, before: set[str], tmp: Path) -> None:
    lines = stderr.splitlines()
    assert code == case.code, (code, stdout, stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for name in case.names:
        assert name in lines[0], (name, lines[0])
    assert "Traceback" not in stdout + stderr
    if case.code == 2:
        assert listing(tmp) == before, listing(tmp) - before
        for name in WRITTEN:
            assert not (tmp / name).exists() or name in before, name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_one_line_with_its_exit_code_and_writes_nothing(case, env, tiny_model_dir, request, monkeypatch):
    args = prepare(case, env, tiny_model_dir, request, monkeypatch)
    before = listing(env)
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    check(result.exit_code, result.stdout, result.stderr, case, before, env)


def test_the_table_has_at_least_30_cases_with_distinct_ids():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


# --- runtime failures ---------------------------------------------------------------------


def test_an_exception_inside_a_cell_is_one_line_exit_1_and_debug_shows_the_traceback(env, tiny_model_dir, monkeypatch):
    from entropy_bench.tracks.generation import GenerationTrack

    def boom(self, cell, context):
        raise RuntimeError("boom in the cell\nsecond line")

    monkeypatch.setattr(GenerationTrack, "evaluate", boom)
    path = write(tiny_sweep(tiny_model_dir), env / "sweep.yaml")
    # an absolute URI: MLflow caches its stores by URI within a process, and a relative one would
    # reach the first test's directory from the next test's
    store = ["--tracking-uri", f"sqlite:///{env / 'mlruns.db'}"]
    result = runner.invoke(app, ["run", str(path), "--no-progress", *store])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and "boom in the cell" in line and "second line" not in line
    assert line.endswith("(rerun with 'bench --debug …' for the traceback)")
    debug = runner.invoke(app, ["--debug", "run", str(path), "--no-progress", *store])
    assert debug.exit_code == 1 and isinstance(debug.exception, RuntimeError)  # raised, not one line


def test_debug_raises_bad_input_too(env):
    from entropy_bench.sweep import SpecError

    result = runner.invoke(app, ["--debug", "run", "nowhere/sweep.yaml"])
    assert isinstance(result.exception, SpecError) and "does not exist" in str(result.exception)
    assert not (env / "mlruns.db").exists()


# --- the real CLI in a subprocess -----------------------------------------------------------


def bench(args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "BENCH_CACHE")}
    environ |= {"HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "entropy_bench.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


SUBPROCESS_CASES = [
    Case("yaml-syntax", RUN, ("invalid YAML at line 2",), sweep="name: tiny\nlimit: : 3\nseeds: [0]\n"),
    Case("limit-not-an-int", [*RUN, "--limit", "abc"], ("'--limit'",), sweep=s()),
    Case("unknown-option", [*RUN, "--limt", "3"], ("--limt",), sweep=s()),
    Case("model-unknown-id", RUN, ("'models'", "nosuch-org/nosuch-model"), sweep=s(models=["nosuch-org/nosuch-model"])),
    Case("table-missing-store", ["table", "nosuch"], ("no tracking store",)),
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=lambda c: c.id)
def test_the_real_cli(case, tmp_path, tiny_model_dir, request, monkeypatch):
    args = prepare(case, tmp_path, tiny_model_dir, request, monkeypatch)
    before = listing(tmp_path)
    done = bench(args, tmp_path)
    check(done.returncode, done.stdout, done.stderr, case, before, tmp_path)


def test_the_real_cli_on_a_runtime_failure(tmp_path, tiny_model_dir):
    """A prompt that cannot be built for the model (600 tokens for a 512-position window) fails
    inside its cell, after the store is created: exit 1, one line (MLflow's INFO lines about
    creating its tables are not printed either)."""
    task = {"name": "synthetic_retrieval", "context_tokens": 600, "limit": 1}
    path = write(tiny_sweep(tiny_model_dir, tasks=[task]), tmp_path / "sweep.yaml")
    done = bench(["run", str(path), "--no-progress"], tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "context_tokens=600" in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_real_cli_on_missing_task_data(tmp_path, tiny_model_dir):
    """A task whose data file is missing is bad input, found before anything is written: exit 2,
    one line naming the file and the fields, no store."""
    spec = tiny_sweep(tiny_model_dir, tasks=[{"name": "gsm8k", "limit": 2, "max_new_tokens": 2}])
    path = write(spec, tmp_path / "sweep.yaml")
    done = bench(["run", str(path), "--no-progress"], tmp_path, BENCH_DATA_DIR=str(tmp_path / "no-data"))
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no-data/gsm8k/test.jsonl" in lines[0], done.stderr
    assert "fields question, answer" in lines[0] and not (tmp_path / "mlruns.db").exists()


def test_the_real_cli_with_debug_shows_the_traceback(tmp_path):
    """The same runtime failure as the in-process case 'table-broken-sqlite', under --debug."""
    (tmp_path / "bad.db").write_bytes(b"SQLite format 3\x00" + RANDOM)
    debug = bench(["--debug", "table", "tiny", "--tracking-uri", "sqlite:///bad.db"], tmp_path)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "DatabaseError" in debug.stderr


# --- the limits used are MLflow's ------------------------------------------------------------


def test_name_limits_agree_with_the_installed_mlflow():
    from mlflow.store.tracking.dbmodels.models import SqlExperiment, SqlParam, SqlRun
    from mlflow.utils.validation import MAX_EXPERIMENT_NAME_LENGTH, MAX_PARAM_VAL_LENGTH

    from entropy_bench.tracks import spec

    assert spec.MLFLOW_EXPERIMENT_NAME_LENGTH == min(MAX_EXPERIMENT_NAME_LENGTH, SqlExperiment.__table__.c.name.type.length)
    assert spec.MLFLOW_RUN_NAME_LENGTH == SqlRun.__table__.c.name.type.length
    assert spec.MLFLOW_PARAM_VALUE_LENGTH == min(MAX_PARAM_VAL_LENGTH, SqlParam.__table__.c.value.type.length)
