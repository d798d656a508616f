"""The ``bench`` command line: run sweeps, list methods, render tables.

Bad input (an unknown name, an invalid parameter, a malformed sweep) prints one message and
exits with code 2, before anything is written to MLflow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])


@app.callback()
def main() -> None:
    """Warnings print as one line each ('warning: …'), without the source line that raised them."""
    import warnings

    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"


FAMILIES = ("decoders", "uncertainty", "estimators", "losses", "tasks", "models")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _bad_input_errors() -> tuple[type[Exception], ...]:
    from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
    from entropy_bench.sweep import SpecError

    return (UnknownMethodError, InvalidParameterError, SpecError)


@app.command()
def run(
    sweep: Optional[str] = typer.Argument(None, help="Sweep YAML file, or the name of a shipped sweep (default: 'default')."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI or sqlite:///mlruns.db]."),
    cache_dir: Path = typer.Option(Path(".bench_cache"), envvar="BENCH_CACHE", help="Cache directory (generations, statistics, estimates)."),
    limit: Optional[int] = typer.Option(None, help="Override the examples per task (generation sweeps)."),
    table_format: str = typer.Option("md", "--format", help="Format of the printed table: md|html|csv|latex."),
    out_dir: Optional[Path] = typer.Option(None, help="Also write the table (md, csv) and the sweep's figures here."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run a sweep (resumable: finished cells are skipped, cached data reused) and print its table."""
    from entropy_bench import sweep as sweeps

    try:
        spec = sweeps.load(sweep)
        if limit is not None:
            spec = sweeps.parse({**spec.model_dump(), "limit": limit})
        plan = sweeps.plan(spec)
    except _bad_input_errors() as err:
        _fail(str(err))

    from entropy_bench.runner import run_sweep
    from entropy_bench.tables import load_examples, render, summarise

    result = run_sweep(plan, tracking_uri=tracking_uri, cache_dir=cache_dir, progress=progress, out_dir=out_dir)
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
    typer.echo(render(summary, table_format))


@app.command()
def table(
    experiment: str = typer.Argument("default", help="MLflow experiment (= sweep name)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    parent: Optional[str] = typer.Option(None, help="Only the cells of this parent run."),
    table_format: str = typer.Option("md", "--format", help="md|html|csv|latex"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
) -> None:
    """Comparison table of an experiment's cells: mean and 95 % bootstrap CI per metric."""
    from entropy_bench.tables import FORMATS, load_examples, render, summarise

    if table_format not in FORMATS:
        _fail(f"unknown format {table_format!r}; choose one of {', '.join(FORMATS)}")
    try:
        text = render(summarise(load_examples(tracking_uri, experiment, parent)), table_format)
    except LookupError as err:
        _fail(str(err))
    if output:
        output.write_text(text)
    else:
        typer.echo(text)


@app.command()
def compare(
    experiment: str = typer.Argument("default", help="MLflow experiment (= sweep name)."),
    baseline: Path = typer.Option(Path("results/baselines/default.csv"), help="Baseline table (bench table --format csv)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    parent: Optional[str] = typer.Option(None, help="Only the cells of this parent run."),
) -> None:
    """Compare an experiment's table with a baseline; exit 1 if a metric regressed beyond the baseline CI."""
    import pandas as pd

    from entropy_bench.compare import compare as compare_tables
    from entropy_bench.compare import regressions
    from entropy_bench.tables import load_examples, summarise

    if not baseline.exists():
        _fail(f"baseline {str(baseline)!r} does not exist (write one with: bench table {experiment} --format csv -o {baseline})")
    try:
        current = summarise(load_examples(tracking_uri, experiment, parent))
    except LookupError as err:
        _fail(str(err))
    report = compare_tables(current, pd.read_csv(baseline))
    typer.echo(report.to_markdown(index=False, floatfmt=".3f"))
    bad = regressions(report)
    if len(bad):
        typer.secho(f"{len(bad)} regression(s) against {baseline}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"no regression against {baseline}", err=True)


@app.command("ls")
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


@app.command()
def kernels(
    ops: list[str] = typer.Option(["softmax_stats", "linear_cross_entropy"], "--op", help="Ops to time (repeatable)."),
    dtype: list[str] = typer.Option(["float32"], "--dtype", help="torch dtype names (repeatable)."),
    repeats: int = typer.Option(5, help="Timed repeats per measurement."),
    threads: Optional[int] = typer.Option(None, help="torch threads (1 on a shared CPU machine)."),
    out_dir: Path = typer.Option(Path("results/kernels"), help="Where the CSV goes."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
) -> None:
    """Time (median, p20, p80) and peak memory of every kernel implementation on real vocabularies."""
    from entropy_bench.kernel_bench import run_kernel_benchmark

    try:
        table = run_kernel_benchmark(
            ops, dtypes=dtype, repeats=repeats, out_dir=out_dir, tracking_uri=tracking_uri, threads=threads
        )
    except ValueError as err:
        _fail(str(err))
    typer.echo(table.to_markdown(index=False, floatfmt=".4g"))


@app.command()
def profile(
    batch_size: int = typer.Option(8, help="Rows of logits per step."),
    context: int = typer.Option(256, help="KV-cache length of the timed forward step."),
    repeats: int = typer.Option(50, help="Timed repeats."),
    out_dir: Path = typer.Option(Path("results/decoders"), help="Where overhead.csv/.md go."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
) -> None:
    """Per-step time of every decoder vs the default model's forward step and vs transformers' warpers."""
    from entropy_bench.studies.decoder_overhead import run_decoder_overhead

    table = run_decoder_overhead(batch_size=batch_size, context=context, repeats=repeats, out_dir=out_dir,
                                 tracking_uri=tracking_uri)
    typer.echo(table.to_markdown(index=False, floatfmt=".4g"))


STUDIES = ("mirostat", "ead", "matrix-timing")


@app.command()
def study(
    name: str = typer.Argument(..., help=f"One of: {', '.join(STUDIES)}."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    out_dir: Optional[Path] = typer.Option(None, help="Results folder [default: results/decoders/<name>]."),
    eta: float = typer.Option(1.0, help="mirostat: the learning rate η (1 as in the authors' code; llama.cpp uses 0.1)."),
) -> None:
    """Run a study: 'mirostat' (surprise control of Mirostat v2 for τ ∈ {2,3,5}), 'ead' (score vs cost) or
    'matrix-timing' (Matrix Nuclear-Norm vs matrix entropy time, results/estimators/)."""
    from entropy_bench.methods.registry import UnknownMethodError

    if name not in STUDIES:
        _fail(str(UnknownMethodError("study", name, list(STUDIES))))
    out = out_dir or (Path("results/estimators") if name == "matrix-timing" else Path("results/decoders") / name)
    if name == "matrix-timing":
        from entropy_bench.studies.matrix_timing import run_matrix_timing

        table = run_matrix_timing(out_dir=out)
    elif name == "mirostat":
        from entropy_bench.studies.mirostat import run_mirostat_study

        table = run_mirostat_study(eta=eta, tracking_uri=tracking_uri, out_dir=out)
    else:
        from entropy_bench.studies.ead import run_ead_study

        table = run_ead_study(tracking_uri=tracking_uri, out_dir=out)
    typer.echo(table.to_markdown(index=False, floatfmt=".4g"))


@app.command()
def ui(
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI."),
    port: int = typer.Option(5000, help="Port."),
) -> None:
    """Open the MLflow UI on the suite's tracking store."""
    from entropy_bench.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    os.execvp(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--port", str(port)])


if __name__ == "__main__":
    app()
