"""The task interfaces and the task registry.

A task is a frozen dataclass (its fields are the parameters that change its examples, e.g.
``num_fewshot``) registered in ``TASKS``, with a ``version`` that is part of every cache key.
There are two kinds, and each track reads only its own:

**Text tasks** (:class:`TextTask`, the generation track) load examples, format prompts and
score generated text:

    load(split, limit)   -> list[example]      each example is a dict with a unique "id"
    prompt(example)      -> str                 the full prompt, few-shot context included
    score(example, text) -> {metric: value}     with ``primary_metric`` among the keys
    extract(text)        -> str                 the answer that ``score`` compares (for reports)
    target(example)      -> str                 the reference answer (for reports)

and may refine three defaults:

    max_new_tokens                              the task's own generation length (LongBench's per
                                                dataset); a sweep's task entry overrides it
    fit(example, prompt, tokenizer, max_tokens) the prompt the model reads, given its tokenizer and
                                                the tokens its window leaves (LongBench's middle
                                                truncation); default: the prompt unchanged
    groups(example)      -> {grouping: group}   e.g. {"subject": "Algebra", "level": "3"}: the
                                                track reports every metric per group as well

``primary_metric`` (1 = right, 0 = wrong) is the correctness that uncertainty measures are
evaluated against (AUROC of score vs error).

**Data tasks** (:class:`DataTask`, the estimation track) are distributions with known truth:

    sample(n, seed)      -> SampleSet           n i.i.d. samples, a pure function of (task, n, seed)
    truth(quantity)      -> float | None        e.g. truth("entropy") in nats, None if unknown
    second_moment()      -> ndarray | None      E[x xᵀ] [d, d] of continuous samples, for matrix estimators
"""

from __future__ import annotations

import abc
import contextlib
import os
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import Method, Registry, require

TASKS = Registry("task", "entropy_bench.tasks")


class Task(Method):
    """What every task has: a version (part of cache keys)."""

    version: ClassVar[str] = "0"


class TextTask(Task, abc.ABC):
    primary_metric: ClassVar[str] = "exact_match"
    no_answer: ClassVar[str | None] = None  # what ``extract`` returns for a text that holds no answer
    stop: ClassVar[tuple[str, ...]] = ()
    max_new_tokens: ClassVar[int | None] = None  # the task's own generation length (None: the sweep's)
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

    def check_load(self, split: str, limit: int | None) -> None:
        """Refuse ``load``'s arguments: a split the task does not have, a negative limit."""
        require(split in self.splits, self.name, "split", f"must be one of {tuple(self.splits)}, got {split!r}")
        require(limit is None or limit >= 0, self.name, "limit", f"must be None or >= 0, got {limit!r}")

    def fit(self, example: dict[str, Any], prompt: str, tokenizer: Any, max_tokens: int) -> str:
        """The prompt the model reads: ``prompt`` (of ``example``) fitted to the ``max_tokens``
        tokens of ``tokenizer`` that the model's window leaves after the generated ones. The
        default leaves it unchanged (a longer prompt is then an error of the model's)."""
        return prompt

    def groups(self, example: dict[str, Any]) -> dict[str, str]:
        """The groups ``example`` belongs to, one per grouping (``{"level": "3"}``); every metric
        is also reported per group. Default: none."""
        return {}

    def answer(self, text: str) -> str | None:
        """The answer in ``text`` as the task compares answers (two texts with equal answers are
        the same answer: semantic classes by ``math_answer``), or ``None`` if it holds none."""
        extracted = self.extract(text)
        return None if extracted == self.no_answer else extracted

    def target(self, example: dict[str, Any]) -> str:
        return str(example["target"])

    question_field: ClassVar[str | None] = None  # the example field holding the question, if it has one

    @property
    def label(self) -> str:
        """A short name for run names and progress lines (the registry name; a task wrapping
        others names the one it wraps)."""
        return self.name

    def question(self, example: dict[str, Any]) -> str:
        """The example's question: the part of its prompt that a perturbation rewrites."""
        return str(example[self._question_field()])

    def with_question(self, example: dict[str, Any], question: str) -> dict[str, Any]:
        """The example with its question replaced (``prompt`` of it: the perturbed prompt)."""
        return {**example, self._question_field(): question}

    def _question_field(self) -> str:
        if self.question_field is None:
            raise TypeError(f"task {self.name!r} has no question to perturb (no question_field)")
        return self.question_field


class DataTask(Task, abc.ABC):
    sample_kind: ClassVar[str] = "discrete"

    @abc.abstractmethod
    def sample(self, n: int, seed: int) -> SampleSet: ...

    def truth(self, quantity: str) -> float | None:
        return None

    def second_moment(self) -> np.ndarray | None:
        return None

    @property
    def family(self) -> str:
        """The distribution family (the registry name); the estimation track groups plots by it."""
        return self.name


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut as lm-eval's ``generate_until`` cuts a generation: before the first
    occurrence of each (non-empty) stop string, in turn. (Not always before the earliest
    occurrence of any: in ``":é"`` with stops ``("é", ":é")`` the first cut leaves ``":"``.)
    The text is shorter exactly when some stop string occurs in it."""
    for s in stop:
        if s:
            text = text.split(s, 1)[0]
    return text


def data_dir() -> Path | None:
    """``$BENCH_DATA_DIR`` if set (offline copies of hub datasets), else ``None``."""
    value = os.environ.get("BENCH_DATA_DIR")
    return Path(value).expanduser() if value else None


def hub_or_local(hub_path: str, hub_config: str | None, local_dir: str, split: str) -> dict[str, Any]:
    """Arguments of ``datasets.load_dataset`` for ``split``: the hub dataset ``hub_path``
    (config ``hub_config``) by default; with ``$BENCH_DATA_DIR`` set, the ``json`` builder on
    ``$BENCH_DATA_DIR/<local_dir>/<split>.jsonl`` (same rows and fields)."""
    root = data_dir()
    if root is None:
        return {"path": hub_path, "name": hub_config, "split": split}
    return {"path": "json", "data_files": {split: str(root / local_dir / f"{split}.jsonl")}, "split": split}


class DataFileError(ValueError):
    """A dataset file that is missing, is not JSON lines, or has a row without an expected field."""

    def __init__(self, source: str, fields: tuple[str, ...], problem: str):
        self.source, self.fields = source, fields
        super().__init__(f"{source}: {problem}; expected rows with the fields {', '.join(fields)}")


@contextlib.contextmanager
def quiet_datasets():
    """``datasets`` without its progress bars and log lines ("Generating test split", a JSON
    parser's error), restored afterwards: a bad file is one :class:`DataFileError`, not three
    messages."""
    import datasets

    bars_off, verbosity = datasets.utils.are_progress_bars_disabled(), datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if not bars_off:
            datasets.enable_progress_bars()


def load_dataset_rows(arguments: dict[str, Any], fields: tuple[str, ...],
                      optional: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rows of ``datasets.load_dataset(**arguments)`` (see :func:`hub_or_local`), each cut to
    ``fields``, in dataset order; :class:`DataFileError` names the source and ``fields`` when
    it is missing or malformed (a row without one of ``fields`` not in ``optional``).
    ``ConnectionError`` when the source is remote (a hub dataset, or ``data_files`` at a URL)
    and the hub is unreachable."""
    import datasets  # heavy; imported only when data is actually loaded

    from entropy_bench.hub import hub_reachable

    files = "data_files" in arguments
    source = arguments["data_files"][arguments["split"]] if files else arguments["path"]
    if (not files or "://" in source) and not hub_reachable():
        raise ConnectionError(f"the hub is unreachable and BENCH_DATA_DIR is not set: cannot load {source}")
    try:
        with quiet_datasets():
            rows = datasets.load_dataset(**arguments)
    except FileNotFoundError as err:
        raise DataFileError(source, fields, "not found") from err
    except datasets.exceptions.DatasetGenerationError as err:
        raise DataFileError(source, fields, f"not JSON lines ({err.__cause__ or err})") from err
    out = [{f: row.get(f) for f in fields} for row in rows]
    for i, row in enumerate(out):
        missing = [f for f, value in row.items() if value is None and f not in optional]
        if missing:
            raise DataFileError(source, fields, f"row {i} (from 0) has no {', '.join(missing)}")
    return out
