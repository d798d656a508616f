"""A :class:`~entropy_bench.report.Report` as one self-contained HTML file and its Markdown twin.

The HTML file needs nothing else to open: the style is inline, every figure an inline
``data:image/png;base64,…`` image, no script. The Markdown twin (``<name>.md`` beside it) has
the same headings and links its figures, written as PNG files to ``<name>_figures/``.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from entropy_bench.checks import InputError, check_dir
from entropy_bench.report import Report
from entropy_bench.tables import render
from entropy_bench.tracks.estimation_plots import file_name

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1d1d1f; background: #fff; }
h1 { border-bottom: 2px solid #3b6ea8; padding-bottom: .2em; }
h2 { color: #3b6ea8; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0; }
th, td { border: 1px solid #c8ccd2; padding: 4px 8px; text-align: left; }
th { background: #e8eef6; }
tbody tr:nth-child(even) { background: #f6f8fa; }
pre { background: #f6f8fa; border: 1px solid #c8ccd2; padding: .8em; overflow-x: auto; font-size: 12px; }
img { max-width: 100%; border: 1px solid #e1e4e8; }
"""
HEADINGS = ("Sweep", "Environment", "Comparison table", "Figures")
TABLE_NOTE = "Mean and 95 % bootstrap CI per metric."


def title(report: Report) -> str:
    return f"Report: {report.experiment}"


def twin_paths(output: Path) -> tuple[Path, Path]:
    """The Markdown twin of ``output`` and the folder of its figures, both beside it."""
    return output.with_suffix(".md"), output.with_name(f"{output.stem}_figures")


def check_report_path(output: Path, option: str) -> None:
    """``output`` is an ``.html`` file that can be written, with its twin and figures folder beside it."""
    output = Path(output).expanduser()
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"invalid {option}: {str(output)!r} must end in .html (its Markdown twin goes beside it)")
    markdown, figures = twin_paths(output)
    for path in (output, markdown):
        if path.is_dir():
            raise InputError(f"invalid {option}: {str(path)!r} is a directory")
    check_dir(output.absolute().parent, option)
    check_dir(figures, option)


def write_report(report: Report, output: Path) -> list[Path]:
    """Write the HTML file, its Markdown twin and the twin's figures; the paths written, HTML first."""
    output = Path(output).expanduser()
    markdown, folder = twin_paths(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, figure in report.figures.items():
        if isinstance(figure, bytes):
            folder.mkdir(exist_ok=True)
            images[name] = folder / f"{file_name(name.removesuffix('.png'))}.png"
            images[name].write_bytes(figure)
    output.write_text(to_html(report))
    markdown.write_text(to_markdown(report, {name: path.relative_to(folder.parent) for name, path in images.items()}))
    return [output, markdown, *images.values()]


def _environment_table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _figure_html(name: str, figure: bytes | str) -> str:
    if isinstance(figure, str):
        return f"<h3>{html.escape(name)}</h3>\n<pre>{html.escape(figure)}</pre>"
    data = base64.b64encode(figure).decode("ascii")
    return f'<h3>{html.escape(name)}</h3>\n<img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'


def to_html(report: Report) -> str:
    """The report as one HTML page: inline style and images, no script."""
    name = html.escape(title(report))
    figures = "\n".join(_figure_html(n, f) for n, f in report.figures.items()) or "<p>None.</p>"
    body = "\n".join([
        f"<h1>{name}</h1>", f"<p>Parent run {html.escape(report.parent)}.</p>",
        f"<h2>{HEADINGS[0]}</h2>\n<pre>{html.escape(report.spec_yaml)}</pre>",
        f"<h2>{HEADINGS[1]}</h2>\n{_environment_table(report.environment)}",
        f"<h2>{HEADINGS[2]}</h2>\n<p>{TABLE_NOTE}</p>\n{render(report.summary, 'html')}",
        f"<h2>{HEADINGS[3]}</h2>\n{figures}",
    ])
    head = f'<meta charset="utf-8">\n<title>{name}</title>\n<style>{STYLE}</style>'
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{head}\n</head>\n<body>\n{body}\n</body>\n</html>\n'


def to_markdown(report: Report, images: dict[str, Path]) -> str:
    """The report as Markdown, each figure linked from ``images`` (name → path relative to the file)."""
    figures = [f"### {name}\n\n" + (f"![{name}]({images[name].as_posix()})" if name in images else figure)
               for name, figure in report.figures.items()]
    environment = "\n".join(f"| {k} | {v} |" for k, v in report.environment)
    return "\n\n".join([
        f"# {title(report)}", f"Parent run {report.parent}.",
        f"## {HEADINGS[0]}", f"```yaml\n{report.spec_yaml.rstrip()}\n```",
        f"## {HEADINGS[1]}", f"| | |\n|---|---|\n{environment}",
        f"## {HEADINGS[2]}", TABLE_NOTE, render(report.summary, "md"),
        f"## {HEADINGS[3]}", "\n\n".join(figures) or "None.",
    ]) + "\n"
