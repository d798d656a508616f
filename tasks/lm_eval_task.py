"""Any lm-evaluation-harness ``generate_until`` task as a text task (``lmeval``): the generation
track's models, decoders and uncertainty measures run it as lm-eval would.

In a sweep::

    tasks:
      - lmeval:gsm8k                                  # ≡ {name: lmeval, task: gsm8k}
      - {name: "lmeval:gsm8k", num_fewshot: 8}
      - {name: lmeval, task: gsm8k_local, include_path: my_tasks/}   # lm-eval's --include_path

Everything is lm-eval's own, from the task's YAML:

- **prompt**: ``fewshot_context`` of each eval doc with lm-eval's few-shot sampler seeded with
  ``fewshot_seed`` (re-seeded at each :meth:`LMEvalTask.load`, so doc ``i`` gets the ``i``-th
  draw): the contexts of ``build_all_requests`` in one lm-eval process over the same docs;
- **stop**, **max_new_tokens**: ``generation_kwargs`` ``until`` and ``max_gen_toks`` (default 256,
  lm-eval's ``HFLM``);
- **score**: the text cut at the stop strings (as lm-eval's models cut it), through each filter
  ensemble, then ``process_results``; lm-eval reports ``<metric>,<filter>``, here
  ``<metric>_<filter>`` (``exact_match_strict-match``), an MLflow-legal key; metrics whose
  per-example value is not a number (a corpus-level BLEU's pair) are left out;
- **primary_metric**: the first metric under the first filter; **extract**: the first filter's
  output.

The task's config is read from its YAML without its data, when the task is built: an unknown
name (with lm-eval's close matches), a group or tag, a Python-class task or one that does not
generate text is an :class:`InvalidParameterError` then. The data is loaded at the first
:meth:`LMEvalTask.load` (the lm-eval task object is cached per process): a hub dataset with the
hub unreachable is a ``ConnectionError`` (an ``optional: true`` entry skips); a local YAML with
``dataset_path: json`` and local ``data_files`` loads offline.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import numbers
import re
from pathlib import Path
from typing import Any

from entropy_bench.methods.registry import did_you_mean, require
from entropy_bench.tasks.base import TASKS, TextTask, quiet_datasets, truncate_at_stop

NAME = "lmeval"
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval HFLM's max_gen_toks
REGEX_FALLBACK = "[invalid]"  # lm-eval RegexFilter's default fallback
FILE_BUILDERS = ("json", "csv", "parquet", "text", "arrow")  # datasets builders that read data_files
STRUCTURAL_KEYS = ("tag", "group", "task_list")  # YAML keys that are no TaskConfig field (lm-eval's TaskFactory)
NOT_A_TASK = {
    "GROUP": "is an lm-eval group of tasks; name one of its tasks",
    "TAG": "is an lm-eval tag of tasks; name one of its tasks",
    "PY_TASK": "is an lm-eval task defined by a Python class; only YAML tasks can be wrapped",
}


@functools.cache
def task_manager(include_path: str | None):
    """lm-eval's ``TaskManager``: the index of its shipped task YAMLs and ``include_path``'s
    (which override them), built once per process (seconds)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path)


@functools.cache
def task_config(task: str, include_path: str | None):
    """lm-eval's ``TaskConfig`` of ``task``, from its YAML (``include`` merged, ``!function``
    hooks imported) as lm-eval's ``TaskFactory`` reads it; no data is loaded.
    :class:`InvalidParameterError` unless ``task`` is a YAML task that generates text."""
    from lm_eval.config.task import TaskConfig
    from lm_eval.tasks._yaml_loader import load_yaml

    manager = task_manager(include_path)
    entry = manager.task_index.get(task)
    require(entry is not None, NAME, "task",
            f"{task!r} is not an lm-eval task{did_you_mean(task, manager.all_tasks)}")
    require(entry.kind.name == "TASK", NAME, "task",
            f"{task!r} {NOT_A_TASK.get(entry.kind.name, 'is not an lm-eval YAML task')}")
    raw = load_yaml(entry.yaml_path, resolve_func=True)
    config = TaskConfig(**{k: v for k, v in raw.items() if k not in STRUCTURAL_KEYS})
    require(config.output_type == "generate_until", NAME, "task",
            f"lm-eval task {task!r} is a {config.output_type} task; only generate_until tasks generate text")
    return config


def filter_ensembles(config) -> list:
    """The task's filter ensembles as ``ConfigurableTask`` builds them (default: ``none``, take_first)."""
    from lm_eval.filters import build_filter_ensemble

    if config.filter_list is None:
        return [build_filter_ensemble("none", [["take_first", None]])]
    return [build_filter_ensemble(f["name"], [[s["function"], {k: v for k, v in s.items() if k != "function"}]
                                              for s in f["filter"]])
            for f in config.filter_list]


def filtered(ensemble, text: str, doc: dict[str, Any]) -> Any:
    """``ensemble``'s output for the one response ``text`` to ``doc`` (``FilterEnsemble.apply``
    on one instance)."""
    responses = [[text]]
    for make in ensemble.filters:
        responses = make().apply(responses, [doc])
    return list(responses)[0]


def metric_key(metric: str, filter_name: str) -> str:
    """lm-eval's ``<metric>,<filter>`` as an MLflow-legal key: ``<metric>_<filter>``, any character
    besides letters, digits and ``_ - . / : space`` replaced by ``_``."""
    return re.sub(r"[^\w\-./: ]", "_", f"{metric}_{filter_name}")


def json_safe(value: Any) -> Any:
    """``value`` through JSON (values JSON cannot hold become their ``str``)."""
    return json.loads(json.dumps(value, default=str))


def is_local(config) -> bool:
    """Whether the task's data loads without the hub: a ``custom_dataset`` function (lm-eval's
    hook, which cannot be told apart), a local ``dataset_path``, or a file builder (``json``,
    ``csv``, …) on local ``data_files``."""
    if config.custom_dataset is not None or (config.dataset_path and Path(config.dataset_path).exists()):
        return True
    files = (config.dataset_kwargs or {}).get("data_files")
    if config.dataset_path not in FILE_BUILDERS or files is None:
        return False
    values = files.values() if isinstance(files, dict) else [files]
    return not any("://" in path for v in values for path in ([v] if isinstance(v, str) else v))


@functools.cache
def lm_eval_task(task: LMEvalTask):
    """lm-eval's task object for ``task``, its data loaded, with ``num_fewshot`` set as
    ``lm_eval.simple_evaluate`` sets it; built once per process. ``ConnectionError`` naming the
    task and its dataset when that is on the hub and the hub is unreachable."""
    from entropy_bench.hub import hub_reachable

    if not is_local(task.config) and not hub_reachable():
        raise ConnectionError(f"lm-eval task {task.task!r} reads the hub dataset {task.config.dataset_path!r} "
                              "and the hub is unreachable")
    with quiet_datasets():
        built = task_manager(task.include_path).load([task.task])["tasks"][task.task]
    built.set_config(key="num_fewshot", value=task.shots)
    return built


@TASKS.register(NAME, paper="Gao et al. (2024), The Language Model Evaluation Harness (any generate_until task)",
                url="https://github.com/EleutherAI/lm-evaluation-harness")
@dataclasses.dataclass(frozen=True)
class LMEvalTask(TextTask):
    """An lm-evaluation-harness generate_until task: its prompts, stop strings, filters and metrics.

    ``num_fewshot``: ``None`` for the task's own (0 where its YAML sets none); ``include_path``: a
    directory of further task YAMLs (lm-eval's ``--include_path``); ``fewshot_seed``: the few-shot
    sampler's seed (lm-eval's default 1234). The only split is the task's eval split (its
    ``test_split``, else ``validation_split``), the docs lm-eval evaluates.
    """

    task: str
    num_fewshot: int | None = None
    include_path: str | None = None
    fewshot_seed: int = 1234

    def __post_init__(self):
        require(isinstance(self.task, str) and bool(self.task), NAME, "task",
                f"must name an lm-eval task, got {self.task!r}")
        require(self.num_fewshot is None or (type(self.num_fewshot) is int and self.num_fewshot >= 0), NAME,
                "num_fewshot", f"must be None or an integer >= 0, got {self.num_fewshot!r}")
        require(self.include_path is None or Path(self.include_path).is_dir(), NAME, "include_path",
                f"must be a directory of lm-eval task YAMLs, got {self.include_path!r}")
        config = self.config  # refuses a task this cannot run
        require(not (self.num_fewshot and config.num_fewshot == 0), NAME, "num_fewshot",
                f"lm-eval task {self.task!r} fixes num_fewshot at 0 (lm-eval ignores an override)")

    @property
    def label(self) -> str:
        return f"{NAME}:{self.task}"

    @property
    def config(self):
        """lm-eval's ``TaskConfig`` of the task (:func:`task_config`)."""
        return task_config(self.task, self.include_path)

    @property
    def shots(self) -> int:
        """The number of few-shot examples in each prompt."""
        return (self.config.num_fewshot or 0) if self.num_fewshot is None else self.num_fewshot

    @property
    def version(self) -> str:
        """``lmeval-<lm-eval version>/<the task's metadata version>`` (lm-eval's ``"Yaml"`` where none)."""
        import lm_eval

        return f"lmeval-{lm_eval.__version__}/{(self.config.metadata or {}).get('version', 'Yaml')}"

    @property
    def splits(self) -> tuple[str, ...]:
        return (self.config.test_split or self.config.validation_split,)

    @property
    def default_split(self) -> str:
        return self.splits[0]

    @property
    def stop(self) -> tuple[str, ...]:
        until = self.config.generation_kwargs["until"]
        return (until,) if isinstance(until, str) else tuple(until)

    @property
    def max_new_tokens(self) -> int:
        return int(self.config.generation_kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS))

    @property
    def primary_metric(self) -> str:
        from lm_eval.api.registry import DEFAULT_METRIC_REGISTRY

        metrics = self.config.metric_list
        metric = metrics[0]["metric"] if metrics else DEFAULT_METRIC_REGISTRY["generate_until"][0]
        return metric_key(getattr(metric, "__name__", metric), filter_ensembles(self.config)[0].name)

    @property
    def no_answer(self) -> str | None:
        """The first filter's fallback where it extracts by ``regex`` (``"[invalid]"``), else ``None``."""
        steps = self.config.filter_list[0]["filter"] if self.config.filter_list else []
        return next((s.get("fallback", REGEX_FALLBACK) for s in steps if s["function"] == "regex"), None)

    def load(self, split: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` eval docs, in order, each as ``id`` (``lmeval/<task>/<split>/<i>``),
        ``prompt`` (lm-eval's context), ``doc`` (JSON-safe) and ``target`` (``doc_to_target``)."""
        split = split or self.default_split
        self.check_load(split, limit)
        task = lm_eval_task(self)
        task.set_fewshot_seed(seed=self.fewshot_seed)
        return [
            {
                "id": f"lmeval/{self.task}/{split}/{i}",
                "prompt": task.fewshot_context(doc, num_fewshot=self.shots, gen_prefix=task.doc_to_prefix(doc)),
                "doc": json_safe(doc),
                "target": json_safe(task.doc_to_target(doc)),
            }
            for i, doc in enumerate(itertools.islice(task.eval_docs, limit))
        ]

    def prompt(self, example: dict[str, Any]) -> str:
        return example["prompt"]

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        task, doc = lm_eval_task(self), example["doc"]
        text = truncate_at_stop(text, self.stop)
        scores = {}
        for ensemble in filter_ensembles(self.config):
            results = task.process_results(doc, [filtered(ensemble, text, doc)])
            scores |= {metric_key(k, ensemble.name): float(v)
                       for k, v in results.items() if isinstance(v, numbers.Real)}
        return scores

    def extract(self, text: str) -> str:
        """The first filter's output for ``text`` (cut at the stop strings)."""
        return str(filtered(filter_ensembles(self.config)[0], truncate_at_stop(text, self.stop), {}))
