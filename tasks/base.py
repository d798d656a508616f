"""The task interface and the task registry.

A task is a frozen dataclass (its fields are the parameters that change its examples or
prompts, e.g. ``num_fewshot``) registered in ``TASKS``. It carries a ``version`` that is part
of every cache key, loads examples, formats prompts and scores generated text:

    load(split, limit) -> list[example]      each example is a dict with a unique "id"
    prompt(example)    -> str                 the full prompt, few-shot context included
    score(example, text) -> {metric: value}   with ``primary_metric`` among the keys
    extract(text)      -> str                 the answer that ``score`` compares (for reports)

``primary_metric`` (1 = right, 0 = wrong) is the correctness that uncertainty measures are
evaluated against (AUROC of score vs error).
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, ClassVar

from entropy_bench.methods.registry import Method, Registry

TASKS = Registry("task", "entropy_bench.tasks")


class Task(Method, abc.ABC):
    version: ClassVar[str] = "0"
    primary_metric: ClassVar[str] = "exact_match"
    stop: ClassVar[tuple[str, ...]] = ()
    default_split: ClassVar[str] = "test"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    @abc.abstractmethod
    def load(self, split: str, limit: int | None = None) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def prompt(self, example: dict[str, Any]) -> str: ...

    @abc.abstractmethod
    def score(self, example: dict[str, Any], text: str) -> dict[str, float]: ...

    @abc.abstractmethod
    def extract(self, text: str) -> str: ...


def data_dir() -> Path | None:
    """``$BENCH_DATA_DIR`` if set (offline copies of hub datasets), else ``None``."""
    value = os.environ.get("BENCH_DATA_DIR")
    return Path(value).expanduser() if value else None
