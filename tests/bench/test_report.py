"""``bench report``: the plots drawn from a hand-built summary show its numbers; a tiny sweep's
report is one self-contained HTML page (headings, a table row per cell, inline PNGs that
decode) with a Markdown twin; bad input exits 2 and writes nothing; headless Chromium renders
the page."""

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from typer.testing import CliRunner

from entropy_bench import sweep
from entropy_bench.cli import app
from entropy_bench.report_plots import accuracy_plot, auroc_columns, auroc_forest, auroc_heatmap, generation_figures
from entropy_bench.report_render import HEADINGS
from entropy_bench.runner import run_sweep
from entropy_bench.tables import compact_id

from debian import apt_install_or_skip
from entropy_bench.tracking import CELL_TAG, SWEEP_TAG

from sweep_fixtures import tiny_sweep, write

runner = CliRunner()
HEADING_TEXTS = ("Report: tiny", *HEADINGS)


def ci(value: float, half: float = 0.05) -> dict:
    return {"": value, "_ci_low": value - half, "_ci_high": value + half}


def hand_summary(tasks=("arithmetic", "gsm8k")) -> pd.DataFrame:
    """Tasks × two decoders, two measures; every number distinct."""
    rows = []
    for t, task in enumerate(tasks):
        for d, decoder in enumerate(["greedy", "temperature(temperature=0.7)"]):
            row = {"model": "m", "task": task, "decoder": decoder, "n": 10, "seeds": 1}
            for column, value in (("accuracy", 0.2 + 0.3 * t + 0.1 * d),
                                  ("AUROC max_sequence_prob", 0.6 + 0.1 * d + 0.05 * t),
                                  ("AUROC mean_token_entropy", 0.55 + 0.02 * d + 0.2 * t)):
                row |= {f"{column}{suffix}": v for suffix, v in ci(value).items()}
            rows.append(row)
    summary = pd.DataFrame(rows)
    summary.attrs["track"] = "generation"
    return summary


def png_colours(data: bytes) -> int:
    """Distinct colours of a PNG (asserting it decodes and is not empty)."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.width > 0 and image.height > 0
    return len(image.convert("RGB").getcolors(maxcolors=1 << 24))


def test_heatmap_shows_the_summary_auroc_columns_per_task():
    summary = hand_summary()
    fig = auroc_heatmap(summary)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    for ax, (_, rows) in zip(panels, summary.groupby("task", sort=False)):
        np.testing.assert_array_equal(ax.images[0].get_array(), rows[auroc_columns(summary)].to_numpy())
        assert [t.get_text() for t in ax.get_yticklabels()] == [compact_id(d) for d in rows["decoder"]]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["max_sequence_prob", "mean_token_entropy"]


def test_forest_plot_has_a_marker_per_decoder_at_its_auroc_on_each_measure_row():
    summary = hand_summary()
    fig = auroc_forest(summary)
    ax = fig.axes[0]
    rows = summary[summary["task"] == "arithmetic"]
    lines = [c for c in ax.containers]
    assert len(lines) == 2  # one errorbar per decoder
    for container, (_, row) in zip(lines, rows.iterrows()):
        x, y = container.lines[0].get_data()
        np.testing.assert_allclose(x, row[auroc_columns(summary)].to_numpy(dtype=float))
        assert np.all(np.abs(np.asarray(y) - np.arange(2)) < 0.5)  # near its measure's row
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["greedy", "temperature(0.7)"]


def test_accuracy_plot_has_the_accuracy_and_ci_of_each_decoder():
    summary = hand_summary()
    fig = accuracy_plot(summary)
    for ax, (_, rows) in zip(fig.axes, summary.groupby("task", sort=False)):
        (container,) = ax.containers
        np.testing.assert_allclose(np.asarray(container.lines[0].get_ydata(), dtype=float), rows["accuracy"])
        bars = [s[:, 1] for s in container.lines[2][0].get_segments()]
        np.testing.assert_allclose(bars, rows[["accuracy_ci_low", "accuracy_ci_high"]].to_numpy())


def test_generation_figures_draw_non_empty_pngs_and_skip_the_auroc_plots_without_measures():
    summary = hand_summary()
    figures = generation_figures(summary)
    assert sorted(figures) == ["accuracy.png", "auroc_forest.png", "auroc_heatmap.png"]
    for fig in figures.values():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert png_colours(buffer.getvalue()) > 10
    plain = summary.drop(columns=[c for c in summary.columns if c.startswith("AUROC")])
    assert list(generation_figures(plain)) == ["accuracy.png"]


def test_many_tasks_wrap_into_rows_and_a_value_outside_its_ci_draws_no_negative_bar():
    summary = hand_summary(tasks=("a", "b", "c", "d"))
    summary.loc[0, "accuracy_ci_low"] = summary.loc[0, "accuracy"] + 0.01  # a percentile CI may miss its point
    fig = accuracy_plot(summary)
    assert len(fig.axes) == 6 and [ax.get_visible() for ax in fig.axes] == [True] * 4 + [False] * 2
    bottom, top = fig.axes[0].containers[0].lines[2][0].get_segments()[0][:, 1]
    assert (bottom, top) == pytest.approx((summary.loc[0, "accuracy"], summary.loc[0, "accuracy_ci_high"]))


class Page(HTMLParser):
    """Headings, tables (rows of cell texts) and image sources of an HTML page."""

    def __init__(self):
        super().__init__()
        self.headings, self.tables, self.images, self.scripts, self.links = [], [], [], 0, 0
        self._text, self._in = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._text, self._in = [], tag
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._text, self._in = [], tag
        elif tag == "img":
            self.images.append(attrs["src"])
        self.scripts += tag == "script"
        self.links += tag == "link" or (tag != "img" and any(v and "://" in v for v in attrs.values()))

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._in:
            text = "".join(self._text).strip()
            (self.headings if tag.startswith("h") else self.tables[-1][-1]).append(text)
            self._text, self._in = None, None


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_dir):
    """A tiny sweep (tiny model) in a fresh store: its URI, cache, and parent run id."""
    root = tmp_path_factory.mktemp("report-store")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    spec = sweep.parse(tiny_sweep(tiny_model_dir, limit=4))
    result = run_sweep(spec, tracking_uri=uri, cache_dir=root / "cache", progress=False)
    return {"uri": uri, "root": root, "parent": result.parent_run_id}


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    result = runner.invoke(app, ["report", "tiny", "-o", str(out), "--tracking-uri", store["uri"]])
    assert result.exit_code == 0, result.output
    page = Page()
    page.feed(out.read_text())
    return {"path": out, "page": page, "store": store}


def test_report_has_the_sections_the_table_and_inline_pngs(report):
    page = report["page"]
    assert page.headings[:5] == list(HEADING_TEXTS)
    assert {"accuracy.png", "auroc_forest.png", "auroc_heatmap.png"} <= set(page.headings)
    assert page.scripts == 0 and page.links == 0  # nothing fetched from elsewhere
    text = report["path"].read_text()
    fetched = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?!data:)([a-z]+:)""", text, flags=re.I)
    assert fetched == [] and "http://" not in text and "https://" not in text  # opening it needs no network
    assert "name: tiny" in text and "max_sequence_prob" in text  # the spec, as YAML
    environment = dict(row for row in page.tables[0] if len(row) == 2)
    assert environment["torch"] and environment["mlflow"] and environment["device"]
    assert any(k.startswith("model source:") for k in environment)
    header, *rows = page.tables[1]
    assert "decoder" in header and "accuracy" in header and "AUROC max_sequence_prob" in header
    assert sorted(r[header.index("decoder")] for r in rows) == ["greedy", "temperature(0.7)"]  # a row per cell
    assert len(page.images) == 3
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert png_colours(base64.b64decode(src.split(",", 1)[1], validate=True)) > 1


def test_markdown_twin_has_the_same_headings_and_links_its_pngs(report):
    markdown = report["path"].with_suffix(".md")
    text = markdown.read_text()
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    assert headings == report["page"].headings
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(links) == 3
    for link in links:
        assert png_colours((markdown.parent / link).read_bytes()) > 1


def test_report_of_an_estimation_sweep_shows_its_bias_plots(tmp_path):
    spec = {"name": "est", "track": "estimation", "distributions": [{"name": "zipf", "alphabet_size": 20}],
            "estimators": ["plugin", "miller_madow"], "sample_sizes": [10, 100], "seeds": [0, 1]}
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_sweep(sweep.parse(spec), tracking_uri=uri, cache_dir=tmp_path / "cache", progress=False)
    out = tmp_path / "est.html"
    result = runner.invoke(app, ["report", "est", "-o", str(out), "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    page = Page()
    page.feed(out.read_text())
    assert {"bias_vs_n/zipf.png", "orderings.md"} <= set(page.headings)
    assert len(page.images) == 1 and len(page.tables[1]) == 1 + 2 * 2  # (n, estimator) rows


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["no-such-sweep"], "no MLflow experiment 'no-such-sweep'"),
    (["tiny", "--parent", "0123456789abcdef"], "experiment 'tiny' has no run '0123456789abcdef'"),
    (["tiny", "--parent", "bad id!"], "'--parent'"),
    (["tiny", "-o", "{out}/report.md"], "must end in .html"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(store, tmp_path, args, message):
    out = tmp_path / "out"
    args = [a.format(out=out) for a in args]
    result = runner.invoke(app, ["report", *args, "--tracking-uri", store["uri"],
                                 *([] if "-o" in args else ["-o", str(out / "report.html")])])
    assert message in one_line_error(result)
    assert not out.exists()


def test_parent_must_be_a_sweep_run_of_the_experiment(store, tmp_path):
    client = MlflowClient(store["uri"])
    other = client.create_run(client.create_experiment("other"), tags={SWEEP_TAG: "x"}).info.run_id
    tiny = client.get_experiment_by_name("tiny").experiment_id
    cell = client.search_runs([tiny], filter_string=f"tags.`{CELL_TAG}` != ''", max_results=1)[0].info.run_id
    out = tmp_path / "report.html"

    def invoke(run_id):
        return runner.invoke(app, ["report", "tiny", "--parent", run_id, "-o", str(out), "--tracking-uri", store["uri"]])

    for run_id, message in ((other, f"experiment 'tiny' has no run {other!r}"),
                            (cell, f"run {cell!r} is not a sweep's parent run (it is a cell of {store['parent']})")):
        assert message in one_line_error(invoke(run_id))
        assert not list(tmp_path.iterdir())
    assert invoke(store["parent"]).exit_code == 0
    assert store["parent"] in out.read_text()


# --- headless Chromium ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's ``chromium``; installed with apt-get when missing and this runs as root."""
    if not shutil.which("chromium"):
        apt_install_or_skip("chromium", "chromium")
    return shutil.which("chromium") or pytest.skip("chromium: apt-get installed no 'chromium' command")


def headless(chromium: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=300, check=True)


def test_chromium_renders_the_report(chromium, report, tmp_path):
    url = report["path"].resolve().as_uri()
    shot = tmp_path / "report.png"
    headless(chromium, "--window-size=1280,2000", f"--screenshot={shot}", url)
    assert png_colours(shot.read_bytes()) > 100  # text, tables and plots, not a blank page
    dom = Page()
    dom.feed(headless(chromium, "--dump-dom", url).stdout)
    assert dom.headings == report["page"].headings
    assert len(dom.tables) == len(report["page"].tables) and len(dom.images) == 3
