"""``bench report``: one sweep's results gathered for a report (rendered by ``bench/report_render.py``).

A report covers one sweep, i.e. one parent run of the experiment: ``--parent``, or else the
parent run started last. It holds

- the sweep's spec (the parent run's tag ``bench.sweep_spec``, JSON) as YAML;
- the environment its cells ran in: git sha, package versions, device (the tags of
  ``tracking.environment_tags``, every distinct value among the finished cells, else the
  parent's), and each model's source (the cells' tag ``model.source``);
- the comparison table (``tables.summarise`` of the parent's finished cells);
- the figures: the track's own (``Track.figures``) and, for the generation track, the plots of
  ``bench/report_plots.py``; each as PNG bytes, or text (``orderings.md``).
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pandas as pd

from entropy_bench.tables import load_examples, summarise
from entropy_bench.tracking import PARENT_ID_TAG, SWEEP_TAG, resolve_tracking_uri

SPEC_TAG = "bench.sweep_spec"
ENVIRONMENT = (  # (row label, run tag)
    ("git sha", "bench.git_sha"),
    ("entropy-bench", "version.entropy-bench"),
    ("torch", "version.torch"),
    ("transformers", "version.transformers"),
    ("mlflow", "version.mlflow"),
    ("python", "bench.python"),
    ("device", "bench.device"),
)
NOT_RECORDED = "not recorded"


@dataclasses.dataclass
class Report:
    experiment: str
    parent: str  # "<run name> (<run id>)"
    spec_yaml: str
    environment: list[tuple[str, str]]
    summary: pd.DataFrame
    figures: dict[str, bytes | str]  # artifact name → PNG bytes, or text


def build_report(tracking_uri: str | None, experiment: str, parent_run_id: str | None = None) -> Report:
    """The report of ``experiment``'s sweep ``parent_run_id`` (default: its latest); a
    :class:`LookupError` names what is missing (the experiment, the run, finished cells)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    parent = sweep_run(client, experiment, parent_run_id)
    examples = load_examples(tracking_uri, experiment, parent.info.run_id)
    summary = summarise(examples)
    children = client.search_runs(
        [parent.info.experiment_id], max_results=50000,
        filter_string=f"tags.`{PARENT_ID_TAG}` = '{parent.info.run_id}' and attributes.status = 'FINISHED'")
    return Report(experiment=experiment, parent=f"{parent.info.run_name} ({parent.info.run_id})",
                  spec_yaml=spec_yaml(parent.data.tags), environment=environment(parent, children),
                  summary=summary, figures={name: _encoded(f) for name, f in report_figures(summary).items()})


def sweep_run(client, experiment: str, run_id: str | None):
    """The parent run ``run_id`` of a sweep of ``experiment``, or its latest one."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise LookupError(f"no MLflow experiment {experiment!r} at {client.tracking_uri}")
    if run_id is None:
        runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{SWEEP_TAG}` != ''",
                                  order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            raise LookupError(f"experiment {experiment!r} has no sweep (parent) run")
        return runs[0]
    try:
        run = client.get_run(run_id)
    except MlflowException:
        run = None
    if run is None or run.info.experiment_id != found.experiment_id:
        raise LookupError(f"invalid '--parent': experiment {experiment!r} has no run {run_id!r}")
    if SWEEP_TAG not in run.data.tags:
        parent = run.data.tags.get(PARENT_ID_TAG)
        raise LookupError(f"invalid '--parent': run {run_id!r} is not a sweep's parent run"
                          + (f" (it is a cell of {parent})" if parent else ""))
    return run


def spec_yaml(tags: dict[str, str]) -> str:
    """The sweep spec recorded on the parent run, as YAML (in the spec's field order)."""
    import yaml

    if SPEC_TAG not in tags:
        return f"# {NOT_RECORDED}: the parent run has no tag {SPEC_TAG}\n"
    return yaml.safe_dump(json.loads(tags[SPEC_TAG]), sort_keys=False, allow_unicode=True)


def environment(parent, children: list) -> list[tuple[str, str]]:
    """``(label, value)`` rows: each :data:`ENVIRONMENT` tag (the cells' distinct values, else the
    parent's), then ``model source`` per model."""
    rows = []
    for label, tag in ENVIRONMENT:
        values = list(dict.fromkeys(r.data.tags[tag] for r in children if tag in r.data.tags))
        values = values or ([parent.data.tags[tag]] if tag in parent.data.tags else [])
        rows.append((label, ", ".join(values) or NOT_RECORDED))
    sources = {(r.data.params.get("model", "?"), r.data.tags["model.source"])
               for r in children if "model.source" in r.data.tags}
    rows += [(f"model source: {model}", source) for model, source in sorted(sources)]
    return rows


def report_figures(summary: pd.DataFrame) -> dict[str, Any]:
    """The track's figures, and for the generation track those of ``bench/report_plots.py``."""
    from entropy_bench.tracks import TRACKS

    track = summary.attrs.get("track", "generation")
    figures = dict(TRACKS[track].figures(summary))
    if track == "generation":
        from entropy_bench.report_plots import generation_figures

        figures |= generation_figures(summary)
    return figures


def _encoded(figure: Any) -> bytes | str:
    """A matplotlib figure as PNG bytes (the figure closed), text unchanged."""
    if isinstance(figure, str):
        return figure
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
