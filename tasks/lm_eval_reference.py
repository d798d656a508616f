"""lm-eval's own GSM8K and MATH-500 tasks (their shipped YAML) on the suite's local data: the
references our prompts and scores are checked against (``scripts/lmeval_parity.py``), and the
peer our generation is timed against (``scripts/lmeval_speed.py``).

lm-eval reads ``openai/gsm8k`` and ``HuggingFaceH4/MATH-500`` from the hub; this builds the same
``ConfigurableTask`` from ``<root>/gsm8k/{train,test}.jsonl`` and ``<root>/math500/test.jsonl``
through the ``datasets`` ``json`` loader (only the data source changes), with the few-shot seed
``lm_eval.simple_evaluate`` uses by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from entropy_bench.tasks.gsm8k import FEWSHOT_SEED


def gsm8k_yaml() -> dict[str, Any]:
    """lm-eval's ``tasks/gsm8k/gsm8k.yaml``, as installed."""
    import lm_eval
    import yaml

    return yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml").read_text())


def gsm8k_task(root: Path, num_fewshot: int = 5, test_split: str = "test", **overrides: Any):
    """lm-eval's gsm8k task reading ``root/gsm8k/*.jsonl``, and its config; ``overrides`` replace
    YAML fields (``generation_kwargs``, ``repeats``, …)."""
    from lm_eval.api.task import ConfigurableTask

    config = gsm8k_yaml()
    config.pop("tag", None)
    files = {s: str(Path(root) / "gsm8k" / f"{s}.jsonl") for s in ("train", "test")}
    config.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files},
                  num_fewshot=num_fewshot, test_split=test_split, **overrides)
    task = ConfigurableTask(config=config)
    task.set_fewshot_seed(seed=FEWSHOT_SEED)
    return task, config


def math500_yaml() -> dict[str, Any]:
    """lm-eval's ``tasks/minerva_math/minerva_math500.yaml``, as installed: ``include`` merged and
    its ``!function`` hooks imported from ``minerva_math/utils.py``."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(Path(lm_eval.__file__).parent / "tasks" / "minerva_math" / "minerva_math500.yaml")


def math500_task(root: Path, num_fewshot: int = 4, **overrides: Any):
    """lm-eval's minerva_math500 task reading ``root/math500/test.jsonl``, and its config."""
    from lm_eval.api.task import ConfigurableTask

    config = math500_yaml()
    config.pop("tag", None)
    config.update(dataset_path="json", dataset_name=None, num_fewshot=num_fewshot,
                  dataset_kwargs={"data_files": {"test": str(Path(root) / "math500" / "test.jsonl")}}, **overrides)
    return ConfigurableTask(config=config), config
