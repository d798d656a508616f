"""The ``bench`` command line: run sweeps, list methods, render tables.

Every expected failure prints one line ``error: …`` on stderr, naming the field, option or
path, and no traceback (``bench --debug …`` re-raises to show it):

- exit 2, bad input: an unknown name, an invalid parameter, a malformed sweep file, a model
  that cannot be found, a task's data file that is missing or malformed, an invalid option (``--format``, ``--limit``, ``--tracking-uri``,
  ``--cache-dir``, …), a store that does not exist or cannot be written. All of it is checked
  before anything is written: no tracking store, cache or output directory is created;
- exit 1, a runtime failure: an exception while the sweep runs (inside a cell, in MLflow).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Optional

import typer

try:  # typer >= 0.23 vendors click: its usage errors derive from TyperException
    _USAGE_ERRORS: tuple[type[Exception], ...] = (typer.TyperException,)
except AttributeError:  # older typer raises click's own
    import click

    _USAGE_ERRORS = (click.ClickException,)
_EXITS = (typer.Exit, typer.Abort)


class _App(typer.Typer):
    """Typer, but a usage error (``--limit abc``, an unknown option) prints one line too."""

    def __call__(self, *args, **kwargs):
        command = typer.main.get_command(self)
        kwargs.setdefault("prog_name", "bench")
        try:
            code = command.main(*args, standalone_mode=False, **kwargs)
        except _USAGE_ERRORS as err:
            if type(err).__name__ == "NoArgsIsHelpError":
                return super().__call__(*args, **kwargs)  # prints the help, exactly as without this class
            message = err.format_message() if hasattr(err, "format_message") else str(err)
            _echo_error(" ".join(message.split()))
            sys.exit(getattr(err, "exit_code", 2))
        except typer.Abort:
            _echo_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = _App(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
_DEBUG = {"on": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="On an error, raise it with its traceback instead of one line.")) -> None:
    """Warnings print as one line each ('warning: …'), without the source line that raised them."""
    import warnings

    _DEBUG["on"] = debug
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"


FAMILIES = ("decoders", "uncertainty", "estimators", "losses", "tasks", "models")


def _echo_error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def _fail(message: str, code: int = 2) -> None:
    _echo_error(" ".join(message.split()))  # one line, whatever the message
    raise typer.Exit(code)


def _bad_input_errors() -> tuple[type[Exception], ...]:
    from entropy_bench.checks import InputError
    from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
    from entropy_bench.models.hf import ModelNotFoundError
    from entropy_bench.sweep import SpecError
    from entropy_bench.tasks.base import DataFileError

    return (UnknownMethodError, InvalidParameterError, SpecError, InputError, ModelNotFoundError, DataFileError)


def _runtime_message(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    text = text if len(text) <= 300 else f"{text[:300]}…"
    from entropy_bench.runner import CellError

    kind = "" if isinstance(err, CellError) else f"{type(err).__name__}: " if text else type(err).__name__
    return f"{kind}{text} (rerun with 'bench --debug …' for the traceback)"


def _command(*args, **kwargs):
    """``app.command``, with every exception turned into one line: exit 2 for bad input, 1 otherwise
    (130 for Ctrl-C); under ``--debug`` the exception is raised with its traceback."""

    def register(fn):
        @functools.wraps(fn)
        def guarded(*a, **k):
            try:
                return fn(*a, **k)
            except _EXITS + _USAGE_ERRORS + (BrokenPipeError,):  # typer handles these (EPIPE: `bench … | head`)
                raise
            except KeyboardInterrupt:
                if _DEBUG["on"]:
                    raise
                _fail("interrupted", 130)
            except Exception as err:
                if _DEBUG["on"]:
                    raise
                if isinstance(err, _bad_input_errors()):
                    _fail(str(err), 2)
                _fail(_runtime_message(err), 1)

        return app.command(*args, **kwargs)(guarded)

    return register


def _tracking(tracking_uri: Optional[str]) -> tuple[str, str]:
    """The tracking URI a command uses and how to name it in an error."""
    from entropy_bench.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if tracking_uri:
        return uri, "'--tracking-uri'"
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return uri, "$MLFLOW_TRACKING_URI"
    return uri, f"'--tracking-uri' (default {uri})"


def _check_store(tracking_uri: Optional[str], *, write: bool) -> str:
    from entropy_bench.checks import check_tracking_uri

    uri, option = _tracking(tracking_uri)
    check_tracking_uri(uri, option, write=write, must_exist=not write)
    return uri


def _quiet_mlflow() -> None:
    """MLflow's INFO lines ('Creating initial MLflow database tables…') off stderr, so that an error
    is the one line there; ``$MLFLOW_LOGGING_LEVEL`` keeps its say."""
    if os.environ.get("MLFLOW_LOGGING_LEVEL"):
        return
    import logging

    import mlflow  # noqa: F401  (configures its logger on import; the level is set after that)

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _check_format(table_format: str) -> None:
    from entropy_bench.checks import InputError
    from entropy_bench.tables import FORMATS

    if table_format not in FORMATS:
        raise InputError(f"invalid '--format': unknown format {table_format!r}; choose one of {', '.join(FORMATS)}")


def _check_positive(value: Optional[int], option: str) -> None:
    from entropy_bench.checks import InputError

    if value is not None and value < 1:
        raise InputError(f"invalid {option!r}: must be an integer >= 1, got {value}")


EXECUTORS = ("local", "ray")
BACKENDS = ("transformers", "vllm")


def _on_backend(spec, backend: str):
    """A generation spec whose models run on ``backend`` (``vllm:<model>``, models/pool.py)."""
    import importlib.util

    from entropy_bench import sweep as sweeps
    from entropy_bench.checks import InputError
    from entropy_bench.methods.registry import UnknownMethodError
    from entropy_bench.models.pool import VLLM_PREFIX

    if backend not in BACKENDS:
        _fail(str(UnknownMethodError("backend", backend, list(BACKENDS))))
    if "models" not in type(spec).model_fields:
        raise InputError(f"invalid '--backend': the {spec.track} track generates no text")
    if importlib.util.find_spec("vllm") is None:
        raise InputError("invalid '--backend': vllm is not installed; the vLLM backend needs a CUDA GPU and "
                         "pip install -e '.[vllm]'")
    models = [m if m.startswith(VLLM_PREFIX) else f"{VLLM_PREFIX}{m}" for m in spec.models]
    return sweeps.parse({**spec.model_dump(), "models": models})


@_command()
def run(
    sweep: Optional[str] = typer.Argument(None, help="Sweep YAML file, or the name of a shipped sweep (default: 'default')."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI or sqlite:///mlruns.db]."),
    cache_dir: Path = typer.Option(Path(".bench_cache"), envvar="BENCH_CACHE", help="Cache directory (generations, statistics, estimates)."),
    limit: Optional[int] = typer.Option(None, help="Override the examples per task (generation sweeps)."),
    table_format: str = typer.Option("md", "--format", help="Format of the printed table: md|html|csv|latex."),
    out_dir: Optional[Path] = typer.Option(None, help="Also write the table (md, csv) and the sweep's figures here."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    executor: str = typer.Option("local", help="local: cells one at a time in this process; ray: cells on Ray "
                                 "actors (pip install -e '.[ray]'; the cache dir must be shared by every node)."),
    address: Optional[str] = typer.Option(None, help="ray: the cluster ('auto', 'ray://host:10001'); default: a local Ray."),
    workers: int = typer.Option(2, help="ray: actors evaluating cells at once."),
    gpus_per_worker: float = typer.Option(0.0, help="ray: GPUs each actor declares."),
    retries: int = typer.Option(2, help="ray: attempts after a cell's first failure before it is reported."),
    backend: str = typer.Option("transformers", help="Generation backend of every model: transformers, or vllm "
                                "(a CUDA GPU and pip install -e '.[vllm]'; its cells are the models' 'vllm:<model>')."),
) -> None:
    """Run a sweep (resumable: finished cells are skipped, cached data reused) and print its table."""
    from entropy_bench import sweep as sweeps
    from entropy_bench.checks import InputError, check_dir

    _check_format(table_format)
    _check_positive(limit, "--limit")
    _check_positive(workers, "--workers")
    if executor not in EXECUTORS:
        from entropy_bench.methods.registry import UnknownMethodError

        _fail(str(UnknownMethodError("executor", executor, list(EXECUTORS))))
    if retries < 0 or gpus_per_worker < 0:
        raise InputError("invalid '--retries' or '--gpus-per-worker': must be >= 0")
    tracking_uri = _check_store(tracking_uri, write=True)
    check_dir(cache_dir, "'--cache-dir'")
    if out_dir is not None:
        check_dir(out_dir, "'--out-dir'")
    spec = sweeps.load(sweep)
    if backend != "transformers":
        spec = _on_backend(spec, backend)
    if limit is not None:
        if "limit" not in type(spec).model_fields:
            raise InputError(f"invalid '--limit': the {spec.track} track has no examples per task to limit")
        spec = sweeps.parse({**spec.model_dump(), "limit": limit})
    plan = sweeps.plan(spec)

    _quiet_mlflow()
    from entropy_bench.runner import run_sweep
    from entropy_bench.tables import load_examples, render, summarise, terminal_view

    runner = None
    if executor == "ray":
        from entropy_bench.executors import RayExecutor

        runner = RayExecutor(address, workers, num_gpus=gpus_per_worker, max_retries=retries)
    result = run_sweep(plan, tracking_uri=tracking_uri, cache_dir=cache_dir, progress=progress, out_dir=out_dir,
                       executor=runner)
    rescored = f", {result.rescored} rescored" if result.rescored else ""
    typer.echo(
        f"sweep {spec.name!r}: {result.cells} cells ({result.skipped} already done{rescored}), "
        f"{result.generated_examples} items computed, {result.forward_calls} forward calls; "
        f"parent run {result.parent_run_id} at {result.tracking_uri}",
        err=True,
    )
    summary = summarise(load_examples(result.tracking_uri, spec.name, result.parent_run_id))
    if out_dir is not None:
        (out_dir / "table.md").write_text(render(summary, "md") + "\n")
        (out_dir / "table.csv").write_text(render(summary, "csv"))
        typer.echo(f"table and figures written to {out_dir}", err=True)
    shown, left_out = terminal_view(summary) if table_format != "csv" else (summary, [])
    typer.echo(render(shown, table_format))
    if left_out:
        typer.echo(f"({', '.join(left_out)}: `bench table {spec.name}`)", err=True)
    for label, error in result.failed:
        typer.echo(f"FAILED {label}: {error} (traceback: the run's error.txt)", err=True)
    if result.failed:
        raise typer.Exit(1)


@_command()
def table(
    experiment: str = typer.Argument("default", help="MLflow experiment (= sweep name)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    parent: Optional[str] = typer.Option(None, help="Only the cells of this parent run."),
    table_format: str = typer.Option("md", "--format", help="md|html|csv|latex"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
    view: str = typer.Option("cells", help="cells: one row per cell; uq: the uncertainty measures ranked per "
                             "decoder (AUROC, PRR) and their temperature sensitivity (md or csv)."),
    plot: Optional[Path] = typer.Option(None, help="uq view: also save the AUROC heatmap (measure × decoder) here."),
) -> None:
    """Comparison table of an experiment's cells: mean and 95 % bootstrap CI per metric."""
    from entropy_bench.checks import InputError, check_output_file, check_run_id
    from entropy_bench.methods.registry import UnknownMethodError
    from entropy_bench.tables import load_examples, render, summarise

    _check_format(table_format)
    if view not in VIEWS:
        _fail(str(UnknownMethodError("table view", view, list(VIEWS))))
    if view == "uq" and table_format not in ("md", "csv"):
        raise InputError(f"invalid '--format': the uq view renders md or csv, got {table_format!r}")
    if plot is not None:
        if view != "uq":
            raise InputError("invalid '--plot': only the uq view draws a figure (add --view uq)")
        check_output_file(plot, "'--plot'")
    if parent is not None:
        check_run_id(parent, "'--parent'")
    if output is not None:
        check_output_file(output, "'--output'")
    tracking_uri = _check_store(tracking_uri, write=False)
    _quiet_mlflow()
    try:
        examples = load_examples(tracking_uri, experiment, parent)
        text = _uq_view(examples, table_format, plot) if view == "uq" else render(summarise(examples), table_format)
    except LookupError as err:
        _fail(str(err))
    if output:
        output.write_text(text)
    else:
        typer.echo(text)


VIEWS = ("cells", "uq")


def _uq_view(examples, table_format: str, plot: Optional[Path]) -> str:
    from entropy_bench.tracks.uq_table import auroc_heatmap, rank_measures, render_markdown, temperature_sensitivity

    if not any(c.startswith("uq:") for c in examples.columns):
        raise LookupError("these cells score no uncertainty measure: the uq view has nothing to rank")
    ranking, sensitivity = rank_measures(examples), temperature_sensitivity(examples)
    if plot is not None:
        auroc_heatmap(ranking).savefig(plot, dpi=130)
    if table_format == "csv":
        return ranking.to_csv(index=False) + "\n" + sensitivity.to_csv(index=False)
    return render_markdown(ranking, sensitivity)


@_command()
def compare(
    experiment: str = typer.Argument("default", help="MLflow experiment (= sweep name)."),
    baseline: Optional[str] = typer.Option(None, help="A baseline's name (results/baselines/NAME.csv, written by "
                                           "`bench baseline`) or a CSV path (bench table --format csv); "
                                           "default: the experiment's name."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    parent: Optional[str] = typer.Option(None, help="Only the cells of this parent run."),
    report: Optional[Path] = typer.Option(None, help="Also write the regression report here (Markdown)."),
) -> None:
    """Compare an experiment's table with a baseline; exit 1 if a metric regressed beyond the baseline CI."""
    from entropy_bench.checks import check_output_file, check_run_id
    from entropy_bench.compare import compare as compare_tables
    from entropy_bench.compare import markdown, regressions
    from entropy_bench.tables import load_examples, summarise

    if parent is not None:
        check_run_id(parent, "'--parent'")
    if report is not None:
        check_output_file(report, "'--report'")
    tracking_uri = _check_store(tracking_uri, write=False)
    path, base = _read_baseline(baseline or experiment, experiment)
    _quiet_mlflow()
    try:
        current = summarise(load_examples(tracking_uri, experiment, parent))
    except LookupError as err:
        _fail(str(err))
    table = compare_tables(current, base)
    typer.echo(table.to_markdown(index=False, floatfmt=".3f"))
    if report is not None:
        report.write_text(markdown(table, experiment, path))
    bad = regressions(table)
    if len(bad):
        typer.secho(f"{len(bad)} regression(s) against {path}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"no regression against {path}", err=True)


def _read_baseline(value: str, experiment: str):
    """``--baseline``'s path (a bare name resolved by ``compare.baseline_path``) and its table."""
    import pandas as pd

    from entropy_bench.checks import InputError, check_input_file
    from entropy_bench.compare import baseline_path
    from entropy_bench.tables import metric_columns

    path = baseline_path(value)
    hint = (f"bench baseline {experiment} {value}" if path != Path(value)
            else f"bench table {experiment} --format csv -o {path}")
    if not path.exists():
        _fail(f"baseline {str(path)!r} does not exist (write one with: {hint})")
    check_input_file(path, "'--baseline'")
    try:
        base = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as err:  # pandas' ParserError / EmptyDataError are ValueErrors
        raise InputError(f"invalid '--baseline': {str(path)!r} is not a CSV table ({' '.join(str(err).split())})") from None
    if not metric_columns(base):
        raise InputError(f"invalid '--baseline': {str(path)!r} has no metric columns (<m>, <m>_ci_low, "
                         f"<m>_ci_high); write one with: {hint}")
    return path, base


@_command("ls")
def list_methods(family: Optional[str] = typer.Argument(None, help=f"One of: {', '.join(FAMILIES)}.")) -> None:
    """List methods, tasks or models: name, one-line summary, paper, parameters."""
    import dataclasses

    from entropy_bench.methods.registry import DECODERS, ESTIMATORS, LOSSES, UNCERTAINTY, UnknownMethodError
    from entropy_bench.models.hf import DEFAULT_MODEL
    from entropy_bench.models.offline import OFFLINE_COPIES
    from entropy_bench.tasks.base import TASKS

    registries = {"decoders": DECODERS, "uncertainty": UNCERTAINTY, "estimators": ESTIMATORS, "losses": LOSSES, "tasks": TASKS}
    if family is not None and family not in FAMILIES:
        _fail(str(UnknownMethodError("family", family, list(FAMILIES))))
    for name in [family] if family else FAMILIES:
        typer.secho(f"{name}:", bold=True)
        if name == "models":
            for model_id, copy in OFFLINE_COPIES.items():
                default = " (default)" if model_id == DEFAULT_MODEL else ""
                typer.echo(f"  {model_id}{default}\n      offline copy: {copy.summary}")
            typer.echo("  …or any hub id / local directory of a transformers causal LM")
            continue
        entries = registries[name].entries()
        if not entries:
            typer.echo("  (none yet)")
        for entry in entries:
            params = ", ".join(
                k if v is dataclasses.MISSING else f"{k}={v!r}" for k, v in entry.params.items()
            )
            typer.echo(f"  {entry.name}({params})\n      {entry.summary}\n      paper: {entry.paper}")


@_command()
def kernels(
    ops: list[str] = typer.Option(["softmax_stats", "linear_cross_entropy"], "--op", help="Ops to time (repeatable)."),
    dtype: list[str] = typer.Option(["float32"], "--dtype", help="torch dtype names (repeatable)."),
    repeats: int = typer.Option(5, help="Timed repeats per measurement."),
    threads: Optional[int] = typer.Option(None, help="torch threads (1 on a shared CPU machine)."),
    out_dir: Path = typer.Option(Path("results/kernels"), help="Where the CSV goes."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
) -> None:
    """Time (median, p20, p80) and peak memory of every kernel implementation on real vocabularies."""
    from entropy_bench.checks import check_dir
    from entropy_bench.kernel_bench import run_kernel_benchmark

    _check_positive(repeats, "--repeats")
    _check_positive(threads, "--threads")
    check_dir(out_dir, "'--out-dir'")
    tracking_uri = _check_store(tracking_uri, write=True)
    try:
        table = run_kernel_benchmark(
            ops, dtypes=dtype, repeats=repeats, out_dir=out_dir, tracking_uri=tracking_uri, threads=threads
        )
    except ValueError as err:
        _fail(str(err))
    typer.echo(table.to_markdown(index=False, floatfmt=".4g"))


PROFILES = ("decoders", "generation")


@_command()
def profile(
    what: str = typer.Argument("decoders", help=f"One of: {', '.join(PROFILES)}."),
    batch_size: list[int] = typer.Option([8], help="Rows per step (generation: one profile per value)."),
    context: int = typer.Option(256, help="decoders: KV-cache length of the timed forward step."),
    repeats: int = typer.Option(50, help="decoders: timed repeats."),
    model: str = typer.Option("HuggingFaceTB/SmolLM2-135M-Instruct", help="generation: the model."),
    task: str = typer.Option("gsm8k", help="generation: the task (its test split)."),
    limit: int = typer.Option(16, help="generation: examples."),
    decoder: str = typer.Option("greedy", help="generation: a decoder spec, YAML ('{name: top_p, top_p: 0.9}')."),
    n_samples: int = typer.Option(1, help="generation: rows per prompt, from one prefill."),
    max_new_tokens: int = typer.Option(256, help="generation: new tokens at most."),
    threads: int = typer.Option(2, help="generation: torch threads."),
    out_dir: Optional[Path] = typer.Option(None, help="Results folder [default: results/decoders or results/generation]."),
    tracking_uri: Optional[str] = typer.Option(None, help="decoders: MLflow tracking URI."),
) -> None:
    """'decoders': per-step time of every decoder vs the default model's forward step and vs
    transformers' warpers. 'generation': tokens/s and the time split of the generation loop
    (prefill, forward, decoder, statistics, stop scans, records) on a task's prompts."""
    from entropy_bench.checks import check_dir
    from entropy_bench.methods.registry import UnknownMethodError

    if what not in PROFILES:
        _fail(str(UnknownMethodError("profile", what, list(PROFILES))))
    for value, option in ((context, "--context"), (repeats, "--repeats"), (limit, "--limit"),
                          (n_samples, "--n-samples"), (max_new_tokens, "--max-new-tokens"), (threads, "--threads"),
                          *((b, "--batch-size") for b in batch_size)):
        _check_positive(value, option)
    out = out_dir or Path("results") / what
    check_dir(out, "'--out-dir'")
    if what == "generation":
        table = _profile_generation(model, task, limit, decoder, batch_size, n_samples, max_new_tokens, threads, out)
    else:
        from entropy_bench.studies.decoder_overhead import run_decoder_overhead

        table = run_decoder_overhead(batch_size=batch_size[0], context=context, repeats=repeats, out_dir=out,
                                     tracking_uri=_check_store(tracking_uri, write=True))
    typer.echo(table.to_markdown(index=False, floatfmt=".4g"))


def _profile_generation(model, task, limit, decoder, batch_sizes, n_samples, max_new_tokens, threads, out):
    import yaml

    from entropy_bench.methods.decoders.base import build_decoder
    from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
    from entropy_bench.studies.generation_profile import run_generation_profile
    from entropy_bench.tasks.base import TASKS

    try:
        spec = yaml.safe_load(decoder)
        build_decoder(spec)
        TASKS.get(task)
    except (yaml.YAMLError, KeyError, TypeError, UnknownMethodError, InvalidParameterError) as err:
        _fail(str(err))
    return run_generation_profile(model=model, task=task, limit=limit, decoder=spec, batch_sizes=batch_sizes,
                                  n_samples=n_samples, max_new_tokens=max_new_tokens, threads=threads, out_dir=out)


STUDIES = ("mirostat", "ead", "matrix-timing", "decoders-grid", "retrieval", "entropy-control", "lm-losses")


@_command()
def study(
    name: str = typer.Argument(..., help=f"One of: {', '.join(STUDIES)}."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    out_dir: Optional[Path] = typer.Option(None, help="Results folder [default: results/decoders/<name>]."),
    eta: float = typer.Option(1.0, help="mirostat: the learning rate η (1 as in the authors' code; llama.cpp uses 0.1)."),
) -> None:
    """Run a study: 'mirostat' (surprise control of Mirostat v2 for τ ∈ {2,3,5}), 'ead' (score vs cost),
    'matrix-timing' (Matrix Nuclear-Norm vs matrix entropy time, results/estimators/), 'decoders-grid'
    (accuracy vs temperature per decoder, the top-nσ claim judged, results/decoders/grid/), 'retrieval'
    (passkey accuracy vs context length and needle depth, a heat-map, results/tasks/retrieval/) or
    'entropy-control' (a toy bandit: entropy change ≈ −Cov(log π, π·A), policy_gradient vs clip_cov and
    kl_cov, results/losses/) or 'lm-losses' (CE, label smoothing, z-loss and EMO fine-tuning a truncated
    SmolLM2 on GSM8K: test perplexity, token ECE, entropy; head memory vs naive, results/losses/lm/)."""
    from entropy_bench.methods.registry import UnknownMethodError

    if name not in STUDIES:
        _fail(str(UnknownMethodError("study", name, list(STUDIES))))
    from entropy_bench.checks import InputError, check_dir

    if not (eta > 0 and eta != float("inf")):
        raise InputError(f"invalid '--eta': must be a finite number > 0, got {eta}")
    default = {"matrix-timing": Path("results/estimators"), "decoders-grid": Path("results/decoders/grid"),
               "retrieval": Path("results/tasks/retrieval"), "entropy-control": Path("results/losses"),
               "lm-losses": Path("results/losses/lm")}
    out = out_dir or default.get(name, Path("results/decoders") / name)
    check_dir(out, "'--out-dir'")
    if name != "matrix-timing":
        tracking_uri = _check_store(tracking_uri, write=True)
    if name == "matrix-timing":
        from entropy_bench.studies.matrix_timing import run_matrix_timing

        table = run_matrix_timing(out_dir=out)
    elif name == "decoders-grid":
        from entropy_bench.studies.decoders_grid import run_decoders_grid

        table = run_decoders_grid(tracking_uri=tracking_uri, out_dir=out)
    elif name == "retrieval":
        from entropy_bench.studies.retrieval import run_retrieval_study

        table = run_retrieval_study(tracking_uri=tracking_uri, out_dir=out)
    elif name == "entropy-control":
        from entropy_bench.studies.entropy_control import run_entropy_control

        table = run_entropy_control(tracking_uri=tracking_uri, out_dir=out)
    elif name == "lm-losses":
        from entropy_bench.studies.lm_losses import run_lm_losses

        table = run_lm_losses(tracking_uri=tracking_uri, out_dir=out)
    elif name == "mirostat":
        from entropy_bench.studies.mirostat import run_mirostat_study

        table = run_mirostat_study(eta=eta, tracking_uri=tracking_uri, out_dir=out)
    else:
        from entropy_bench.studies.ead import run_ead_study

        table = run_ead_study(tracking_uri=tracking_uri, out_dir=out)
    typer.echo(table.to_markdown(index=False, floatfmt=".4g"))


@_command()
def ui(
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(5000, help="Port."),
    workers: int = typer.Option(1, help="Server workers (MLflow's default of 4 dies on a loaded 2-core machine)."),
    jobs: bool = typer.Option(False, help="Run MLflow's job-execution consumer too."),
    timeout: float = typer.Option(180.0, help="Seconds to wait for the server to answer."),
) -> None:
    """Serve the MLflow UI on the suite's tracking store until Ctrl-C; prints the URL once it answers."""
    from entropy_bench.ui import ServerError, serve

    uri = _check_store(tracking_uri, write=False)
    _check_positive(workers, "--workers")
    _quiet_mlflow()
    try:
        code = serve(uri, host, port, workers=workers, jobs=jobs, timeout_s=timeout,
                     say=lambda line: typer.echo(line, err=True))
    except ServerError as err:
        _fail(str(err), code=1)
    raise typer.Exit(code)


@app.command("lm-eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                          "help_option_names": []})
def lm_eval_cli(ctx: typer.Context) -> None:
    """lm-eval's own command line with the model ``entropy_bench`` registered (all arguments go to
    lm-eval): ``bench lm-eval --model entropy_bench --model_args pretrained=…,decoder=min_p(min_p=0.1)
    --tasks gsm8k``. ``bench lm-eval --help`` prints lm-eval's help."""
    import entropy_bench.lm_eval_adapter  # noqa: F401  (registers entropy_bench)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["bench lm-eval", *ctx.args]
    cli_evaluate()


@_command()
def report(
    experiment: str = typer.Argument("default", help="MLflow experiment (= sweep name)."),
    parent: Optional[str] = typer.Option(None, help="The sweep's parent run [default: the experiment's latest]."),
    output: Path = typer.Option(Path("report.html"), "-o", "--output",
                                help="The HTML file; its Markdown twin (.md) and <name>_figures/ go beside it."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
) -> None:
    """A sweep's report: spec, environment, comparison table with CIs and figures, as one
    self-contained HTML file (inline style and images) and a Markdown twin."""
    from entropy_bench.checks import check_run_id
    from entropy_bench.report import build_report
    from entropy_bench.report_render import check_report_path, write_report

    if parent is not None:
        check_run_id(parent, "'--parent'")
    check_report_path(output, "'--output'")
    tracking_uri = _check_store(tracking_uri, write=False)
    _quiet_mlflow()
    try:
        built = build_report(tracking_uri, experiment, parent)
    except LookupError as err:
        _fail(str(err))
    html_file, markdown, *images = write_report(built, output)
    typer.echo(f"report written to {html_file} and {markdown} ({len(images)} figures beside it)", err=True)


@_command()
def diff(
    run_a: str = typer.Argument(..., help="An MLflow run id (a cell's child run or a sweep's parent run)."),
    run_b: str = typer.Argument(..., help="Another run id of the same store."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
) -> None:
    """The params and metrics that differ between two runs, with deltas (B − A) and, for metrics
    logged with a CI, whether the other run's value lies outside each run's CI."""
    from entropy_bench.checks import check_run_id
    from entropy_bench.diff import load_run, metric_changes, param_changes, render

    check_run_id(run_a, "RUN_A")
    check_run_id(run_b, "RUN_B")
    tracking_uri = _check_store(tracking_uri, write=False)
    _quiet_mlflow()
    a, b = load_run(tracking_uri, run_a, "RUN_A"), load_run(tracking_uri, run_b, "RUN_B")
    typer.echo(render(param_changes(a.data.params, b.data.params), metric_changes(a.data.metrics, b.data.metrics),
                      run_a, run_b), nl=False)


@_command()
def baseline(
    experiment: str = typer.Argument(..., help="MLflow experiment (= sweep name)."),
    name: str = typer.Argument(..., help="The baseline's name: `bench compare --baseline NAME` reads it back."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    parent: Optional[str] = typer.Option(None, help="Only the cells of this parent run."),
    out_dir: Path = typer.Option(Path("results/baselines"), help="Where baselines live."),
) -> None:
    """Save an experiment's table as the baseline NAME: <out-dir>/NAME.csv, as `bench table --format csv` writes it."""
    from entropy_bench.checks import InputError, check_dir, check_run_id
    from entropy_bench.compare import is_baseline_name
    from entropy_bench.tables import load_examples, render, summarise

    if not is_baseline_name(name):
        raise InputError(f"invalid NAME: {name!r} is not a bare name (letters, digits, '_', '-', '.'; no '/', "
                         f"no leading '.', no .csv suffix): the baseline is written to <out-dir>/NAME.csv")
    if parent is not None:
        check_run_id(parent, "'--parent'")
    check_dir(out_dir, "'--out-dir'")
    tracking_uri = _check_store(tracking_uri, write=False)
    _quiet_mlflow()
    try:
        text = render(summarise(load_examples(tracking_uri, experiment, parent)), "csv")
    except LookupError as err:
        _fail(str(err))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.csv").write_text(text)
    typer.echo(f"baseline {name!r} written to {out_dir / f'{name}.csv'} (bench compare {experiment} --baseline {name})",
               err=True)


if __name__ == "__main__":
    app()
