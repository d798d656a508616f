"""Comparison tables: MLflow child runs → pandas → Markdown / HTML / CSV / LaTeX, for every track.

:func:`load_examples` reads the per-example rows (``per_example.csv``) of every FINISHED cell
run of an experiment (one run per cell: a duplicate from a concurrent client is ignored;
runs of an older layout are skipped), with the run's params as columns. The cells' track
(tag ``bench.track``) then summarises them (``Track.summarise``: the generation track's in
``bench/tracks/generation_table.py``, the estimation track's in
``bench/tracks/estimation.py``): one row per table row, each metric as value + 95 % CI
columns (``<m>``, ``<m>_ci_low``, ``<m>_ci_high``; names from ``bench/metrics/keys.py``).
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from entropy_bench.methods.registry import method_id, split_method_id, split_outside_brackets
from entropy_bench.metrics import keys
from entropy_bench.tracking import CELL_TAG, LAYOUT_TAG, TRACK_TAG, resolve_tracking_uri

FORMATS = ("md", "html", "csv", "latex")
HIDDEN = ("seeds",)  # summary columns kept in CSV but not shown in rendered tables
TERMINAL_LEFT_OUT = (keys.MEAN_ENTROPY, keys.MEAN_WARPED_ENTROPY)  # shown by `bench table`, not after `bench run`


TEXT_COLUMNS = ("id", "text", "extracted", "target", "finish_reason")  # per-example strings, never numbers


def read_per_example(path: str | Path) -> pd.DataFrame:
    """A cell's ``per_example.csv``: empty numeric fields are NaN; the text columns (and the
    ``group:*`` ones) stay strings as written (an extracted answer ``"007"`` or ``"12"`` is not
    read as a number, an empty text is ``""``)."""
    header = pd.read_csv(path, nrows=0).columns
    text = [c for c in header if c in TEXT_COLUMNS or c.startswith("group:")]
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={c: str for c in text})
    frame[text] = frame[text].fillna("")
    return frame


def load_examples(tracking_uri: str | None, experiment: str, parent_run_id: str | None = None) -> pd.DataFrame:
    """All FINISHED cell runs of ``experiment`` (optionally of one parent), one row per example."""
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise LookupError(f"no MLflow experiment {experiment!r} at {resolve_tracking_uri(tracking_uri)}")
    query = "attributes.status = 'FINISHED'"
    if parent_run_id:
        query += f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"
    runs = client.search_runs([found.experiment_id], filter_string=query, max_results=50000,
                              order_by=["attributes.start_time ASC"])
    cells = {}
    for run in runs:  # the first finished run of each cell, current layout only
        if LAYOUT_TAG in run.data.tags and CELL_TAG in run.data.tags:
            cells.setdefault(run.data.tags[CELL_TAG], run)
    if not cells:
        raise LookupError(f"experiment {experiment!r} has no finished cell runs")
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in cells.values():
            path = client.download_artifacts(run.info.run_id, "per_example.csv", tmp)
            frame = read_per_example(path)
            for key, value in run.data.params.items():
                frame[key] = value
            frame["run_id"] = run.info.run_id
            frames.append(frame)
            Path(path).unlink()
    examples = pd.concat(frames, ignore_index=True)
    tracks = {run.data.tags.get(TRACK_TAG, "generation") for run in cells.values()}
    if len(tracks) > 1:
        raise LookupError(f"experiment {experiment!r} mixes tracks {sorted(tracks)}; name a parent run")
    examples.attrs["track"] = tracks.pop()
    return examples


def summarise(examples: pd.DataFrame, **options) -> pd.DataFrame:
    """The table of ``examples`` (from :func:`load_examples`) by its track's rules."""
    from entropy_bench.tracks import TRACKS

    summary = TRACKS[examples.attrs.get("track", "generation")].summarise(examples, **options)
    summary.attrs["track"] = examples.attrs.get("track", "generation")
    return summary


def metric_columns(summary: pd.DataFrame) -> list[str]:
    """Columns holding a statistic with a CI (the rest name the row)."""
    return [c for c in summary.columns if f"{c}_ci_low" in summary.columns]


def label_columns(summary: pd.DataFrame) -> list[str]:
    metrics = set(metric_columns(summary))
    return [c for c in summary.columns if c not in metrics and not c.endswith(("_ci_low", "_ci_high"))]


def terminal_view(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``summary`` without the :data:`TERMINAL_LEFT_OUT` metrics (so that the table printed after
    a run fits a terminal), and the names of those it left out."""
    left_out = [c for c in TERMINAL_LEFT_OUT if c in summary]
    dropped = [f"{c}{part}" for c in left_out for part in ("", "_ci_low", "_ci_high")]
    shown = summary.drop(columns=dropped)
    shown.attrs = dict(summary.attrs)
    return shown, left_out


def printable(text: str) -> str:
    """``text`` with control characters escaped (a DRY breaker ``"\n"`` in a decoder id), so a
    table cell stays on one line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: m.group().encode("unicode_escape").decode(), text)


def short_labels(ids) -> dict[str, str]:
    """Each method id → its name and only the parameters that differ among the ids of that
    name (``arithmetic(digits=1,…,style=expression)`` → ``arithmetic`` when it is the table's
    only arithmetic task). Distinct ids keep distinct labels: two ids of one name differ in a
    parameter, which both labels then show."""
    parsed = {i: split_method_id(i) for i in dict.fromkeys(ids)}
    by_name: dict[str, list[dict[str, str]]] = {}
    for name, params in parsed.values():
        by_name.setdefault(name, []).append(dict(params))
    labels = {}
    for i, (name, params) in parsed.items():
        others = by_name[name]
        varying = {k: v for k, v in params if any(o.get(k) != v for o in others)}
        labels[i] = method_id(name, varying) if params else i
    return labels


def compact_id(chain: str) -> str:
    """A decoder id with each parameter named like its method shown by value alone:
    ``temperature(temperature=0.7)+top_p(top_p=0.9)`` → ``temperature(0.7)+top_p(0.9)``,
    ``top_h(top_h=0.4,top_k=100)`` → ``top_h(0.4,top_k=100)``. Nothing is dropped."""
    links = []
    for link in split_outside_brackets(chain, "+") or [chain]:
        name, params = split_method_id(link)
        shown = [v if k == name else f"{k}={v}" for k, v in params]
        links.append(f"{name}({','.join(shown)})" if params else link)
    return "+".join(links)


SHORTENED = {"task": "Tasks", "loss": "Losses"}  # columns shown by their short labels → legend heading


def legend(summary: pd.DataFrame, column: str = "task") -> str:
    """The full ids behind the shortened labels of ``column``, one line each (empty when none is shortened)."""
    labels = short_labels(summary[column]) if column in summary else {}
    return "\n".join(f"- `{label}` = `{printable(i)}`" for i, label in labels.items() if label != i)


def legends(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(heading, :func:`legend`) for each :data:`SHORTENED` column with shortened labels."""
    return [(heading, text) for column, heading in SHORTENED.items() if (text := legend(summary, column))]


def display(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``mean [low, high]`` strings; the model column only when the table has several models;
    tasks and losses by their :func:`short_labels`, decoders by :func:`compact_id`."""
    shown = [c for c in label_columns(summary)
             if c not in HIDDEN and (c != "model" or summary["model"].nunique() > 1)]
    out = summary[shown].copy()
    for column in SHORTENED:
        if column in out:
            out[column] = out[column].map(short_labels(out[column]))
    if "decoder" in out:
        out["decoder"] = out["decoder"].map(lambda d: compact_id(d) if isinstance(d, str) else d)
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: printable(v) if isinstance(v, str) else v)
    for col in metric_columns(summary):
        delta = col.startswith("Δ")
        out[col] = [
            "–" if pd.isna(v) else f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{' ns' if lo <= 0 <= hi else ''}"
            if delta else f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
            for v, lo, hi in zip(summary[col], summary[f"{col}_ci_low"], summary[f"{col}_ci_high"])
        ]
    return out


def delta_note(summary: pd.DataFrame) -> str:
    """The line under a table with Δ columns naming their test (the summary's ``attrs["delta_test"]``,
    set by the track) and the ``ns`` mark; empty without Δ columns."""
    if not any(c.startswith("Δ") for c in metric_columns(summary)):
        return ""
    test = summary.attrs.get("delta_test")
    return f"Δ columns: {f'{test}; ' if test else ''}differences whose CI contains 0 are marked ns (not significant)"


def render(summary: pd.DataFrame, fmt: str = "md") -> str:
    """The table as Markdown, HTML, LaTeX (under the table: the test behind its Δ columns, then the
    tasks' and losses' full ids behind their short labels) or CSV (numeric, with CI columns and full ids)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return summary.to_csv(index=False)
    shown, note, notes = display(summary), delta_note(summary), legends(summary)
    if fmt == "md":
        return (shown.to_markdown(index=False) + (f"\n\n{note}" if note else "")
                + "".join(f"\n\n{heading}:\n{text}" for heading, text in notes))
    if fmt == "html":
        lists = "".join(f"\n<p>{heading}:</p><ul>" + "".join(f"<li>{html.escape(line[2:])}</li>" for line in text.splitlines())
                        + "</ul>" for heading, text in notes)
        return shown.to_html(index=False, escape=True) + (f"\n<p>{html.escape(note)}</p>" if note else "") + lists
    latex = "".join(f"% {line[2:]}\n" for _, text in notes for line in text.splitlines())
    return shown.to_latex(index=False, escape=True) + (f"% {note}\n" if note else "") + latex
