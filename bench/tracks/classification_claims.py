"""The papers' claims, tested on a classification sweep's table, paired over seeds.

Each claim compares two things measured on the same seeds (same split, initialisation, data
order and label noise): per seed the difference d_s = metric(A) − metric(B); the claim
**holds** when the mean difference has the claimed sign and is **significant** when its 95 %
Student-t interval over seeds (``classification_table.t_interval``) excludes 0.

- *Temperature scaling lowers ECE* (Guo et al. 2017): ECE of ``temperature_scaling`` minus ECE of
  ``max_softmax_prob`` (the uncalibrated model) < 0.
- *Deep ensembles detect OOD better than MC dropout, and both better than a single model*
  (Ovadia et al. 2019; Lakshminarayanan et al. 2017): OOD AUROC of ``ensemble_mi`` minus
  ``mc_dropout_mi``, and each minus ``softmax_entropy`` of the single model, > 0.
- *Robust losses degrade less under label noise than cross-entropy* (Zhang & Sabuncu 2018; Ma
  et al. 2020): for each loss L other than plain CE (its defaults; CE with label smoothing is
  such an L) and noise ν ≠ none, the accuracy drop
  acc(L, none) − acc(L, ν) minus CE's drop < 0; accuracy of the model (``max_softmax_prob``'s
  predictive distribution, the softmax).

A claim is tested only where the sweep has both sides, for every pair of their variants (ids
``a`` and ``b``) that agree on the parameters they share (``ensemble_mi(quantity=total_entropy)``
against ``mc_dropout_mi(quantity=total_entropy)``, not against its mutual information).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from entropy_bench.methods.registry import LOSSES, split_method_id
from entropy_bench.tracks.classification_table import t_interval

COLUMNS = ["claim", "task", "loss", "label_noise", "a", "b", "difference", "ci_low", "ci_high", "seeds", "holds",
           "significant"]
# (claim, metric, measure A, measure B, sign of A − B the claim states)
MEASURE_CLAIMS = (
    ("temperature scaling lowers ECE", "ece", "temperature_scaling", "max_softmax_prob", -1),
    ("ensemble beats MC dropout on OOD AUROC", "ood_auroc", "ensemble_mi", "mc_dropout_mi", 1),
    ("ensemble beats a single model on OOD AUROC", "ood_auroc", "ensemble_mi", "softmax_entropy", 1),
    ("MC dropout beats a single model on OOD AUROC", "ood_auroc", "mc_dropout_mi", "softmax_entropy", 1),
)
NOISE_CLAIM = "loss a degrades less under label noise than cross-entropy"
REFERENCE_LOSS = "cross_entropy"
ACCURACY_MEASURE = "max_softmax_prob"


def claims(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per tested (claim, task, loss, label noise); columns :data:`COLUMNS`."""
    seeds = pd.DataFrame(summary.attrs.get("per_seed", {}))
    if seeds.empty:
        return pd.DataFrame(columns=COLUMNS)
    seeds["method"] = seeds["measure"].str.split("(").str[0]
    out = measure_claims(seeds) + noise_claims(seeds)
    return pd.DataFrame(out, columns=COLUMNS)


def _row(claim: str, key: tuple, pair: tuple[str, str], difference: pd.Series, sign: int) -> dict:
    mean, low, high = t_interval(difference.to_numpy())
    holds = bool(np.sign(mean) == sign)
    return dict(zip(("claim", "task", "loss", "label_noise", "a", "b"), (claim, *key, *pair))) | {
        "difference": mean, "ci_low": low, "ci_high": high, "seeds": int(difference.notna().sum()),
        "holds": holds, "significant": bool(holds and (low > 0 if sign > 0 else high < 0)),
    }


def measure_claims(seeds: pd.DataFrame) -> list[dict]:
    out = []
    for key, group in seeds.groupby(["task", "loss", "label_noise"], sort=False):
        values = group.set_index(["measure", "seed"])
        ids = {method: list(g["measure"].unique()) for method, g in group.groupby("method", sort=False)}
        for claim, metric, a, b, sign in MEASURE_CLAIMS:
            for pair in [(x, y) for x in ids.get(a, []) for y in ids.get(b, []) if compatible(x, y)]:
                difference = (values.loc[pair[0], metric] - values.loc[pair[1], metric]).dropna()
                out.append(_row(claim, key, pair, difference, sign))
    return out


def compatible(a: str, b: str) -> bool:
    """Whether measure ids ``a`` and ``b`` agree on every parameter both have."""
    params_a, params_b = (dict(split_method_id(i)[1]) for i in (a, b))
    return all(params_a[k] == params_b[k] for k in params_a.keys() & params_b.keys())


def noise_claims(seeds: pd.DataFrame) -> list[dict]:
    accuracy = seeds[seeds["method"] == ACCURACY_MEASURE].set_index(["task", "loss", "label_noise", "seed"])["accuracy"]
    accuracy = accuracy.sort_index()
    reference = LOSSES.build(REFERENCE_LOSS).id  # plain cross-entropy, its defaults
    out = []
    for (task, loss), group in accuracy.groupby(level=["task", "loss"], sort=False):
        if loss == reference or reference not in accuracy.loc[task].index.get_level_values("loss"):
            continue
        for noise in group.index.get_level_values("label_noise").unique():
            if noise == "none":
                continue
            drop, reference_drop = _drop(accuracy, task, loss, noise), _drop(accuracy, task, reference, noise)
            if drop is not None and reference_drop is not None:
                out.append(_row(NOISE_CLAIM, (task, loss, noise), (loss, reference),
                                drop - reference_drop, -1))
    return out


def _drop(accuracy: pd.Series, task: str, loss: str, noise: str) -> pd.Series | None:
    """acc(none) − acc(noise) per seed, or None when either is missing."""
    try:
        return (accuracy.loc[(task, loss, "none")] - accuracy.loc[(task, loss, noise)]).dropna()
    except KeyError:
        return None
