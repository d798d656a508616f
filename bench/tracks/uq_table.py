"""Which uncertainty measure detects errors best, per decoder: the generation track's UQ view.

From the per-example rows of a sweep's cells (``uq:<measure>`` columns, ``correct``), pooling
a row's seeds and resampling whole examples (95 % percentile bootstrap):

- :func:`rank_measures` — per (model, task, decoder) and measure: AUROC and PRR
  (``metrics.uq``) with CIs, the measures ranked by AUROC; each measure's paired difference to
  the best one (same resampled examples for both, so what the two share cancels): where that
  difference's CI holds 0, the measure is **not significantly worse than the best** (``≈`` in
  the rendered table, which names the test: ``metrics.paired.describe_bootstrap``), the same
  for PRR;
- :func:`temperature_sensitivity` — per (model, task, decoder family) and measure: TSU over the
  family's temperatures (``metrics.uq.tsu``: the fraction of questions whose uncertainty rises
  strictly from each temperature to the next), with a CI over questions. A decoder's family
  and temperature are read from its id (:func:`family_and_temperature`): ``temperature(T)``
  alone is family ``temperature``; a chain ``temperature(T)+rule`` is family ``rule``; other
  decoders (greedy) have no temperature and no TSU.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from entropy_bench.metrics.bootstrap import resample_indices
from entropy_bench.metrics.paired import describe_bootstrap
from entropy_bench.metrics.uq import auroc, prr, tsu

ROW_KEYS = ("model", "task", "decoder")
METRICS = {"AUROC": auroc, "PRR": prr}
TEMPERATURE = re.compile(r"^temperature\(temperature=([0-9.eE+-]+)\)$")


def family_and_temperature(decoder: str) -> tuple[str, float | None]:
    """``("min_p(min_p=0.1)", 0.7)`` for ``temperature(temperature=0.7)+min_p(min_p=0.1)``;
    ``("temperature", 0.7)`` for ``temperature(temperature=0.7)``; ``(decoder, None)`` otherwise."""
    parts = decoder.split("+")
    temps = [float(m.group(1)) for p in parts if (m := TEMPERATURE.match(p))]
    rest = [p for p in parts if not TEMPERATURE.match(p)]
    if len(temps) != 1:
        return decoder, None
    return ("+".join(rest) or "temperature"), temps[0]


def _per_example(group: pd.DataFrame, measures: list[str]) -> pd.DataFrame:
    """One row per example id: correctness and each measure's score averaged over seeds."""
    return group.groupby("id", sort=True)[["correct", *measures]].mean()


def rank_measures(examples: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (model, task, decoder, measure): AUROC and PRR with CIs, rank, and whether the
    measure is within noise of the best (module docstring)."""
    measures = [c for c in examples.columns if c.startswith("uq:")]
    rows = []
    for row_keys, group in examples.groupby(list(ROW_KEYS), sort=False):
        table = _per_example(group, measures)
        draws = resample_indices(np.arange(len(table)), n_resamples, seed)
        correct = table["correct"].to_numpy()
        block = [_measure_row(table[m].to_numpy(), correct, draws) | {"measure": m[3:]} for m in measures]
        rows += [dict(zip(ROW_KEYS, row_keys)) | r | {"n": len(table)} for r in _compare_to_best(block)]
    ranking = pd.DataFrame(rows)
    ranking.attrs["gap_test"] = describe_bootstrap(n_resamples)
    return ranking


def _measure_row(scores: np.ndarray, correct: np.ndarray, draws: list[np.ndarray]) -> dict:
    row = {}
    for name, metric in METRICS.items():
        values = np.array([metric(scores[d], correct[d]) for d in draws])
        row[name] = metric(scores, correct)
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _percentiles(values)
        row[f"_{name}_draws"] = values
    return row


def _compare_to_best(block: list[dict]) -> list[dict]:
    """Rank by AUROC; per metric, the paired bootstrap difference of each measure to the best."""
    for name in METRICS:
        values = np.array([r[name] for r in block], dtype=float)
        best = int(np.nanargmax(values)) if np.isfinite(values).any() else None
        for r in block:
            low, high = (_percentiles(block[best][f"_{name}_draws"] - r[f"_{name}_draws"])
                         if best is not None else (np.nan, np.nan))
            r[f"{name}_gap_ci_low"], r[f"{name}_gap_ci_high"] = low, high
            r[f"{name}_near_best"] = bool(best is not None and low <= 0)
    order = np.argsort([-(r["AUROC"] if np.isfinite(r["AUROC"]) else -np.inf) for r in block], kind="stable")
    for rank, i in enumerate(order, start=1):
        block[i]["rank"] = rank
    return [{k: v for k, v in block[i].items() if not k.startswith("_")} for i in order]


def _percentiles(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return np.nan, np.nan
    low, high = np.percentile(values, [50 * (1 - level), 100 - 50 * (1 - level)])
    return float(low), float(high)


def temperature_sensitivity(examples: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (model, task, decoder family, measure) with ≥ 2 temperatures: TSU and its CI."""
    measures = [c for c in examples.columns if c.startswith("uq:")]
    labelled = examples.assign(**dict(zip(("family", "T"), zip(*examples["decoder"].map(family_and_temperature)))))
    rows = []
    for (model, task, family), group in labelled.dropna(subset=["T"]).groupby(["model", "task", "family"], sort=False):
        temps = sorted(float(t) for t in group["T"].unique())  # plain floats: the CSV shows [0.7, 1.0, 1.3]
        if len(temps) < 2:
            continue
        by_t = [_per_example(group[group["T"] == t], measures) for t in temps]
        shared = sorted(set.intersection(*(set(t.index) for t in by_t)))
        draws = resample_indices(np.arange(len(shared)), n_resamples, seed)
        for m in measures:
            scores = np.stack([t.loc[shared, m].to_numpy() for t in by_t])
            values = np.array([tsu(scores[:, d], temps) for d in draws])
            low, high = _percentiles(values)
            rows.append(dict(model=model, task=task, family=family, measure=m[3:], temperatures=temps,
                             n=len(shared), TSU=tsu(scores, temps), TSU_ci_low=low, TSU_ci_high=high))
    return pd.DataFrame(rows)


def render_markdown(ranking: pd.DataFrame, sensitivity: pd.DataFrame) -> str:
    """Per decoder, the measures ranked by AUROC (``≈``: not significantly worse than the best);
    then TSU per decoder family."""
    lines = ["# Which measure detects errors best, per decoder", "",
             "AUROC and PRR with 95 % bootstrap CIs over questions; measures ranked by AUROC. "
             f"`≈`: the CI of (best − this) holds 0 — not significantly worse than the best "
             f"({ranking.attrs.get('gap_test', 'paired bootstrap')}).", ""]
    for (model, task, decoder), part in ranking.groupby(list(ROW_KEYS), sort=False):
        lines += [f"## {decoder}", "", f"{model} · {task} · n = {part['n'].iloc[0]}", "",
                  "| rank | measure | AUROC | | PRR | |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['rank']} | `{r['measure']}` | {_ci(r, 'AUROC')} | {'≈' if r['AUROC_near_best'] else ''} "
                  f"| {_ci(r, 'PRR')} | {'≈' if r['PRR_near_best'] else ''} |" for _, r in part.iterrows()]
        lines.append("")
    if len(sensitivity):
        lines += ["# Temperature sensitivity of uncertainty (TSU)", "",
                  "Fraction of questions whose uncertainty rises strictly with each temperature step "
                  "(1: always rises; 95 % CI over questions).", ""]
        pivot = sensitivity.assign(cell=[_ci(r, "TSU", 2) for _, r in sensitivity.iterrows()])
        families = list(dict.fromkeys(pivot["family"]))
        lines += ["| measure | " + " | ".join(f"{f} (T = {', '.join(f'{t:g}' for t in pivot[pivot.family == f].temperatures.iloc[0])})"
                                              for f in families) + " |",
                  "|---|" + "---|" * len(families)]
        for measure, part in pivot.groupby("measure", sort=False):
            cells = {r["family"]: r["cell"] for _, r in part.iterrows()}
            lines.append(f"| `{measure}` | " + " | ".join(cells.get(f, "–") for f in families) + " |")
    return "\n".join(lines) + "\n"


def auroc_heatmap(ranking: pd.DataFrame):
    """A figure: AUROC of every measure (rows, best on average first) under every decoder (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = ranking.pivot_table(index="measure", columns="decoder", values="AUROC", sort=False)
    grid = grid.loc[grid.mean(axis=1).sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=(2 + 0.7 * grid.shape[1], 1 + 0.35 * grid.shape[0]))
    image = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0.5, vmax=max(0.55, float(np.nanmax(grid.to_numpy()))), aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [_short(d) for d in grid.columns], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(grid.shape[0]), [_short(m) for m in grid.index], fontsize=7)
    for (i, j), value in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="white" if value < 0.7 else "black")
    fig.colorbar(image, ax=ax, label="AUROC (error detection)")
    ax.set_title("Which measure detects errors best, per decoder")
    fig.tight_layout()
    return fig


def _short(method_id: str) -> str:
    """A method id without its default-looking noise: model names shortened to their last part."""
    return re.sub(r"model=[^,)]*/([^,)]*)", r"\1", method_id).replace("temperature(temperature=", "T(")


def _ci(row, name: str, digits: int = 3) -> str:
    value = row[name]
    if not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f} [{row[f'{name}_ci_low']:.{digits}f}, {row[f'{name}_ci_high']:.{digits}f}]"
