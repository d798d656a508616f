"""The estimation track: entropy and MI estimators on distributions with known truth.

Spec section (``track: estimation``)::

    name: estimators
    track: estimation
    distributions:                       # data tasks (tasks/synthetic.py, tasks/lm_next_token.py)
      - {name: zipf, alphabet_size: 100}
      - {name: gaussian, dim: 2}
    estimators: [plugin, miller_madow, nsb, kozachenko_leonenko]
    sample_sizes: [10, 100, 1000]
    seeds: [0, 1, 2]                     # replicates of every cell

A cell is (distribution, sample size n, replicate seeds); its scorers are the sweep's
estimators that read the distribution's kind of samples (``sample_kind``). For each replicate
seed s the cell draws ``distribution.sample(n, s)`` and every scorer estimates its quantity;
a scorer whose quantity has no known truth under the distribution (``Estimator.truth``) is
left out of the cell. Estimates are cached per (distribution, n, seed, estimator), so adding
an estimator to a finished sweep computes only the new one.

Per estimator the cell logs, over the R replicates with errors e_s = Ĥ_s − H:

    bias = (1/R) Σ e_s        RMSE = sqrt((1/R) Σ e_s²)

with 95 % bootstrap CIs over replicates (``est/<estimator>/bias``, ``…/rmse``, ``…/truth``,
``…/mean``, ``cost/…/seconds``). The table has one row per (distribution, n, estimator);
the figures are a bias-vs-n plot per distribution and :func:`orderings`, which checks the
textbook orderings on the measured numbers.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from entropy_bench.cache import content_key
from entropy_bench.methods.estimators.base import Estimator
from entropy_bench.methods.registry import ESTIMATORS
from entropy_bench.metrics import keys
from entropy_bench.metrics.bootstrap import bootstrap_ci
from entropy_bench.tasks.base import TASKS, DataTask
from entropy_bench.tracks.base import Cell, CellResult, Context, Track
from entropy_bench.tracks.spec import MethodSpec, SpecError, SweepName, build_methods, unique

N_BOOTSTRAP = 1000
ROW_KEYS = ("distribution", "sample_size", "estimator")


class EstimationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `sample_sizes: ["10"]` is an error

    name: SweepName = Field(min_length=1)
    track: Literal["estimation"]
    distributions: list[MethodSpec] = Field(min_length=1)
    estimators: list[MethodSpec] = Field(min_length=1)
    sample_sizes: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)


@dataclasses.dataclass(frozen=True)
class EstimationCell(Cell):
    """n samples of one distribution, R replicates; the estimators score it but are not in its key."""

    track = "estimation"
    distribution: DataTask
    sample_size: int
    seeds: tuple[int, ...]
    estimators: tuple[Estimator, ...]

    @property
    def params(self) -> dict[str, str]:
        return {
            "distribution": self.distribution.id,
            "distribution.name": self.distribution.name,
            "distribution.version": self.distribution.version,
            "sample_size": str(self.sample_size),
            "seeds": ",".join(str(s) for s in self.seeds),
        }

    @property
    def label(self) -> str:
        return f"{self.distribution.id}/n={self.sample_size}"

    @property
    def scorers(self) -> tuple[Estimator, ...]:
        return self.estimators


class EstimationTrack(Track):
    name = "estimation"
    spec = EstimationSpec
    row_keys = ROW_KEYS
    has_figures = True

    def expand(self, spec: EstimationSpec) -> list[EstimationCell]:
        distributions = build_methods(spec.distributions, TASKS, "distributions")
        for d in distributions:
            if not isinstance(d, DataTask):
                raise SpecError(f"sweep spec: {d.id!r} is a text task; the estimation track needs a distribution")
        estimators = build_methods(spec.estimators, ESTIMATORS, "estimators")
        bad = [n for n in spec.sample_sizes if isinstance(n, bool) or n < 1]
        if bad:
            raise SpecError(f"sweep spec: invalid 'sample_sizes': must be integers >= 1, got {bad[0]!r}")
        unique({"distribution": [d.id for d in distributions], "estimator": [e.id for e in estimators],
                "sample size": [str(n) for n in spec.sample_sizes], "seed": [str(s) for s in spec.seeds]})
        kinds = {d.sample_kind for d in distributions}
        for e in estimators:
            if e.sample_kind not in kinds:
                raise SpecError(f"sweep spec: estimator {e.id!r} reads {e.sample_kind} samples, "
                                f"and no distribution of the sweep has them")
        return [
            EstimationCell(d, n, tuple(spec.seeds), tuple(e for e in estimators if e.sample_kind == d.sample_kind))
            for d in distributions
            for n in spec.sample_sizes
        ]

    def validate(self, plan) -> None:
        """A distribution drawn from a model (``lm_next_token``) names a model that can be found."""
        from entropy_bench.models.hf import ModelNotFoundError, resolve

        for distribution in {c.distribution.id: c.distribution for c in plan.cells}.values():
            model = distribution.params.get("model")
            if isinstance(model, str):
                try:
                    resolve(model)
                except ModelNotFoundError as err:
                    raise SpecError(f"sweep spec: invalid 'distributions': {distribution.name}: "
                                    f"invalid 'model': {err}") from None

    def evaluate(self, cell: EstimationCell, context: Context) -> CellResult:
        truths = {e.id: e.truth(cell.distribution) for e in cell.estimators}
        estimators = [e for e in cell.estimators if truths[e.id] is not None]
        rows, produced = [], 0
        for seed in cell.seeds:
            samples = None
            for estimator in estimators:
                key = content_key(distribution=cell.distribution.id, version=cell.distribution.version,
                                  n=cell.sample_size, seed=seed, estimator=estimator.id)
                found = context.cache.get("estimate", key)
                if found is None:
                    samples = samples or cell.distribution.sample(cell.sample_size, seed)
                    start = time.perf_counter()
                    found = {"estimate": estimator(samples), "seconds": time.perf_counter() - start}
                    context.cache.put("estimate", key, found)
                    produced += 1
                truth = truths[estimator.id]
                rows.append({"id": str(seed), "replicate": seed, "estimator": estimator.id,
                             "quantity": estimator.quantity, "estimate": found["estimate"], "truth": truth,
                             "error": found["estimate"] - truth, "seconds": found["seconds"]})
        return CellResult(_metrics(rows), rows, produced=produced)

    def summarise(self, examples: pd.DataFrame, n_resamples: int = N_BOOTSTRAP, seed: int = 0, **_) -> pd.DataFrame:
        rows = []
        for (distribution, n, estimator), group in examples.groupby(list(ROW_KEYS), sort=False):
            error = group["error"].to_numpy(dtype=float)
            row = {"distribution": distribution, "family": group["distribution.name"].iloc[0],
                   "sample_size": int(n), "estimator": estimator, "replicates": len(group),
                   "truth": float(group["truth"].iloc[0])}
            for column, fn in ((keys.BIAS, np.mean), (keys.ABS_BIAS, _abs_mean), (keys.RMSE, _rmse)):
                row[column] = fn(error)
                row[f"{column}_ci_low"], row[f"{column}_ci_high"] = bootstrap_ci(
                    fn, error, n_resamples=n_resamples, seed=seed)
            rows.append(row)
        summary = pd.DataFrame(rows)
        summary["sample_size"] = summary["sample_size"].astype(int)
        return summary.sort_values(["distribution", "estimator", "sample_size"], ignore_index=True)

    def figures(self, summary: pd.DataFrame) -> dict[str, Any]:
        from entropy_bench.tracks.estimation_plots import bias_plots

        return {**bias_plots(summary), "orderings.md": orderings(summary).to_markdown(index=False)}


def _abs_mean(error: np.ndarray) -> float:
    return float(np.abs(np.mean(error)))


def _rmse(error: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(error))))


def _metrics(rows: list[dict]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for estimator in dict.fromkeys(r["estimator"] for r in rows):
        mine = [r for r in rows if r["estimator"] == estimator]
        error = np.array([r["error"] for r in mine])
        for stat, fn in (("bias", np.mean), ("rmse", _rmse)):
            metrics |= keys.with_ci(keys.estimator(estimator, stat), float(fn(error)),
                                    bootstrap_ci(fn, error, n_resamples=N_BOOTSTRAP))
        metrics[keys.estimator(estimator, "truth")] = mine[0]["truth"]
        metrics[keys.estimator(estimator, "mean")] = float(np.mean([r["estimate"] for r in mine]))
        metrics[keys.cost(f"{keys.fragment(estimator)}/seconds")] = float(sum(r["seconds"] for r in mine))
    return metrics


ORDERINGS = (
    # (claim, better, worse, regime): |bias(better)| < |bias(worse)| for every n in the regime
    ("Miller–Madow less biased than plug-in at small n", "miller_madow", ("plugin",), "small"),
    ("NSB less biased than plug-in and Miller–Madow, undersampled", "nsb", ("plugin", "miller_madow"), "undersampled"),
)


def orderings(summary: pd.DataFrame) -> pd.DataFrame:
    """Whether the textbook orderings hold on the measured |bias|, per discrete distribution.

    *small n* is the two smallest sample sizes of the sweep; *undersampled* is n below the
    distribution's truth-implied effective alphabet size e^H (where NSB's prior matters most).
    A comparison counts as significant where the two |bias| CIs do not overlap.
    """
    table = summary.set_index(["distribution", "sample_size", "estimator"])
    sizes = sorted(summary["sample_size"].unique())
    out = []
    for claim, better, worse, regime in ORDERINGS:
        names = {better, *worse}
        for distribution, group in summary.groupby("distribution"):
            present = set(group["estimator"].str.split("(").str[0])
            if not names <= present:
                continue
            ids = {e.split("(")[0]: e for e in group["estimator"].unique()}
            truth = float(group["truth"].iloc[0])
            ns = sizes[:2] if regime == "small" else [n for n in sizes if n < np.exp(truth)]
            for n in ns:
                b = table.loc[(distribution, n, ids[better])]
                others = [table.loc[(distribution, n, ids[w])] for w in worse]
                holds = all(b[keys.ABS_BIAS] < o[keys.ABS_BIAS] for o in others)
                significant = all(b[f"{keys.ABS_BIAS}_ci_high"] < o[f"{keys.ABS_BIAS}_ci_low"] for o in others)
                out.append({"claim": claim, "distribution": distribution, "n": int(n), "holds": holds,
                            "significant": significant})
    return pd.DataFrame(out, columns=["claim", "distribution", "n", "holds", "significant"])
