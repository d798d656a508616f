"""Metric keys of MLflow runs and the display names of table columns, for every track.

Keys follow ``<split>/<family>/<metric>``: ``test/task/exact_match``,
``test/uq/max_sequence_prob/auroc``, ``test/gen/mean_tokens``, ``test/cls/energy/ece``, ``est/plugin/bias``,
``cost/tokens_per_s``. A statistic with a confidence interval is logged as three keys:
``<key>``, ``<key>_ci_low``, ``<key>_ci_high``. Method ids become key fragments through
:func:`fragment` (``a(b=1,c=x)`` → ``a:b-1:c-x``).

Table columns are display names (``accuracy``, ``AUROC <measure id>``, ``bias``, …), each
with ``_ci_low`` / ``_ci_high`` columns in the numeric (CSV) table. :func:`higher_is_better`
tells the regression report which way a column may not move.
"""

from __future__ import annotations

import re

CI_SUFFIXES = ("_ci_low", "_ci_high")


def fragment(method_id: str) -> str:
    """A method id as an MLflow-legal key fragment: ``a(b=1,c=x)`` → ``a:b-1:c-x``."""
    text = method_id.replace("(", ":").replace(")", "").replace("=", "-").replace(",", ":")
    return re.sub(r"[^\w.\-/: ]", "_", text)  # what MLflow accepts in a key


def task(split: str, metric: str) -> str:
    return f"{split}/task/{metric}"


def task_group(split: str, metric: str, grouping: str, group: str) -> str:
    """A task metric over one group of examples: ``test/task/exact_match/level/3``."""
    return f"{split}/task/{metric}/{fragment(grouping)}/{fragment(group).replace('/', '_')}"


def uq(split: str, measure_id: str, stat: str) -> str:
    return f"{split}/uq/{fragment(measure_id)}/{stat}"


def gen(split: str, metric: str) -> str:
    return f"{split}/gen/{metric}"


def cost(metric: str) -> str:
    return f"cost/{metric}"


def classification(split: str, measure_id: str, metric: str) -> str:
    """A classifier metric of one measure's scores or predictive distribution: ``test/cls/energy/ood_auroc``."""
    return f"{split}/cls/{fragment(measure_id)}/{metric}"


def estimator(estimator_id: str, stat: str) -> str:
    return f"est/{fragment(estimator_id)}/{stat}"


def with_ci(key: str, value: float, ci: tuple[float, float]) -> dict[str, float]:
    """``{key: value, key_ci_low: low, key_ci_high: high}``."""
    return {key: value, f"{key}{CI_SUFFIXES[0]}": ci[0], f"{key}{CI_SUFFIXES[1]}": ci[1]}


# Table columns (display names).
ACCURACY = "accuracy"
MEAN_ENTROPY = "mean entropy"
MEAN_WARPED_ENTROPY = "mean warped entropy"
BIAS = "bias"
ABS_BIAS = "|bias|"
RMSE = "RMSE"


def auroc_column(measure_id: str) -> str:
    return f"AUROC {measure_id}"


def delta_column(metric: str, reference: str) -> str:
    return f"Δ {metric} vs {reference}"


def higher_is_better(column: str) -> bool:
    """Whether a fall of ``column`` is a regression (accuracy and AUROC columns)."""
    return column == ACCURACY or column.startswith("AUROC ")


def lower_is_better(column: str) -> bool:
    """Whether a rise of ``column`` is a regression (estimator error columns)."""
    return column in (ABS_BIAS, RMSE)
