"""Decoders across temperature: does accuracy hold at high T where top-p and min-p degrade?

Runs the shipped sweep ``decoders-grid`` (SmolLM2-135M on the offline arithmetic task; each
rule chained with ``temperature(T)`` for T ∈ {0.7, 1.0, 1.5, 2.0}, greedy as the reference)
through the normal runner — cached, resumable, one MLflow child run per cell — then:

- ``table.md`` / ``table.csv``: the sweep's table (accuracy, AUROCs, Δ accuracy vs greedy, CIs);
- ``accuracy_vs_temperature.png``: accuracy against T, one line per rule, 95 % CIs;
- ``verdict.md``: the top-nσ claim (Tang et al. 2024) judged on these numbers. Per rule, the
  accuracy drop from the lowest to the highest T; the claim *holds* when top-nσ's accuracy at
  the highest T is above both top-p's and min-p's, and *significantly* when its CI lies above
  both of theirs.

A cell's rule is its decoder id without the ``temperature(…)`` part (``temperature`` alone for
the plain sampler), and T is read from that part.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from entropy_bench import sweep as sweeps
from entropy_bench.metrics import keys
from entropy_bench.runner import run_sweep
from entropy_bench.tables import load_examples, printable, render, summarise

TEMPERATURE = re.compile(r"temperature\(temperature=([0-9.]+)\)")
ACC = keys.ACCURACY


def rule_and_temperature(decoder_id: str) -> tuple[str, float | None]:
    """``"top_n_sigma(n=1.0)+temperature(temperature=2.0)"`` → ``("top_n_sigma(n=1.0)", 2.0)``."""
    match = TEMPERATURE.search(decoder_id)
    if match is None:
        return decoder_id, None
    rest = [part for part in decoder_id.split("+") if not TEMPERATURE.fullmatch(part)]
    return ("+".join(rest) or "temperature"), float(match.group(1))


def by_rule(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with ``rule`` and ``T`` columns, the temperature-free reference rows dropped."""
    parsed = summary["decoder"].map(lambda d: rule_and_temperature(printable(d)))
    out = summary.assign(rule=[p[0] for p in parsed], T=[p[1] for p in parsed])
    return out[out["T"].notna()].sort_values(["rule", "T"], ignore_index=True)


def verdict(grid: pd.DataFrame) -> str:
    """The claim judged on the highest and lowest temperature of the grid (module docstring)."""
    low, high = grid["T"].min(), grid["T"].max()
    at = grid.set_index(["rule", "T"])
    lines = [f"# Does accuracy hold at high temperature? (T = {low:g} → {high:g})", "",
             "| rule | accuracy at T = %g | accuracy at T = %g | drop |" % (low, high), "|---|---|---|---|"]
    for rule in sorted(grid["rule"].unique()):
        a, b = at.loc[(rule, low)], at.loc[(rule, high)]
        lines.append(f"| {rule} | {_ci(a)} | {_ci(b)} | {a[ACC] - b[ACC]:+.3f} |")
    sigma = next((r for r in grid["rule"].unique() if r.startswith("top_n_sigma")), None)
    rivals = [r for r in grid["rule"].unique() if r.startswith(("top_p", "min_p"))]
    if sigma and rivals:
        mine = at.loc[(sigma, high)]
        above = all(mine[ACC] > at.loc[(r, high)][ACC] for r in rivals)
        clear = all(mine[f"{ACC}_ci_low"] > at.loc[(r, high)][f"{ACC}_ci_high"] for r in rivals)
        state = "holds, with CIs separated" if clear else "holds, but the CIs overlap" if above else "does not hold"
        lines += ["", f"**The top-nσ claim {state} here**: at T = {high:g}, {sigma} {_ci(mine)} against "
                  + ", ".join(f"{r} {_ci(at.loc[(r, high)])}" for r in rivals) + "."]
    return "\n".join(lines) + "\n"


def _ci(row) -> str:
    return f"{row[ACC]:.3f} [{row[f'{ACC}_ci_low']:.3f}, {row[f'{ACC}_ci_high']:.3f}]"


def plot(grid: pd.DataFrame, reference: float | None):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    for i, (rule, rows) in enumerate(grid.groupby("rule")):
        offset = (i - grid["rule"].nunique() / 2) * 0.01  # keep the error bars apart
        err = [rows[ACC] - rows[f"{ACC}_ci_low"], rows[f"{ACC}_ci_high"] - rows[ACC]]
        ax.errorbar(rows["T"] + offset, rows[ACC], yerr=err, marker="o", markersize=3, capsize=2, label=rule)
    if reference is not None:
        ax.axhline(reference, color="black", linewidth=0.8, linestyle="--", label="greedy")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("accuracy (95 % CI)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def run_decoders_grid(tracking_uri: str | None = None, cache_dir: str | Path = ".bench_cache",
                      out_dir: str | Path = "results/decoders/grid", sweep: str = "decoders-grid") -> pd.DataFrame:
    """Run the grid (resumable) and write the table, the plot and the verdict to ``out_dir``."""
    plan = sweeps.plan(sweeps.load(sweep))
    result = run_sweep(plan, tracking_uri=tracking_uri, cache_dir=cache_dir, progress=True)
    summary = summarise(load_examples(result.tracking_uri, plan.spec.name, result.parent_run_id))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(render(summary, "md") + "\n")
    (out / "table.csv").write_text(render(summary, "csv"))
    grid = by_rule(summary)
    greedy = summary.loc[summary["decoder"] == "greedy", ACC]
    plot(grid, float(greedy.iloc[0]) if len(greedy) else None).savefig(out / "accuracy_vs_temperature.png", dpi=120)
    (out / "verdict.md").write_text(verdict(grid))
    return grid[["rule", "T", ACC, f"{ACC}_ci_low", f"{ACC}_ci_high"]]
