"""The generation track's use of the task hooks ``fit``, ``groups`` and ``max_new_tokens``."""

from __future__ import annotations

import dataclasses
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from entropy_bench.metrics import keys
from entropy_bench.tasks.base import TextTask
from entropy_bench.tracks.generation import task_metrics
from entropy_bench.tracks.generation_data import model_prompt


@dataclasses.dataclass(frozen=True)
class Recording(TextTask):
    """A task whose ``fit`` records what it was given and keeps the prompt's last ``max_tokens`` words."""

    seen: list = dataclasses.field(default_factory=list, compare=False)

    def load(self, split, limit=None):
        return [{"id": "a", "text": "one two three four five"}]

    def prompt(self, example):
        return example["text"]

    def fit(self, example, prompt, tokenizer, max_tokens):
        self.seen.append((example["id"], prompt, tokenizer, max_tokens))
        return " ".join(prompt.split()[-max_tokens:])

    def score(self, example, text):
        return {"exact_match": 0.0}

    def extract(self, text):
        return text


def test_model_prompt_fits_to_the_window_left_after_the_generated_tokens():
    task = Recording()
    lm = SimpleNamespace(context_window=10, tokenizer="tok")
    example = task.load("test")[0]
    assert model_prompt(task, example, lm, max_new_tokens=7) == "three four five"
    assert task.seen == [("a", "one two three four five", "tok", 3)]


def test_model_prompt_without_a_known_window_sets_no_limit():
    task = Recording()
    lm = SimpleNamespace(context_window=None, tokenizer="tok")
    assert model_prompt(task, task.load("test")[0], lm, max_new_tokens=7) == "one two three four five"
    assert task.seen[0][3] == sys.maxsize


def test_the_default_fit_leaves_the_prompt_unchanged():
    assert TextTask.fit(Recording(), {}, "a long prompt", None, 1) == "a long prompt"


def test_language_model_context_window_reads_the_config(tiny_model_dir):
    import json

    from entropy_bench.models.hf import load_model

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert load_model(str(tiny_model_dir)).context_window == config["n_positions"]


def test_task_metrics_per_group_are_the_group_means_with_cis():
    scores = [{"exact_match": v, "f1": f} for v, f in [(1, 0.5), (0, 0.25), (1, 1.0), (1, 0.0), (0, 0.75)]]
    groups = [{"level": "1", "subject": "Algebra"}, {"level": "1", "subject": "Counting & Probability"},
              {"level": "2", "subject": "Algebra"}, {"level": "2"}, {"level": "3", "subject": "Algebra"}]
    metrics = task_metrics("test", scores, groups)
    expected = {("level", "1"): (0.5, 0.375), ("level", "2"): (1.0, 0.5), ("level", "3"): (0.0, 0.75),
                ("subject", "Algebra"): (2 / 3, 0.75), ("subject", "Counting & Probability"): (0.0, 0.25)}
    for (grouping, group), (em, f1) in expected.items():
        for name, value in (("exact_match", em), ("f1", f1)):
            key = keys.task_group("test", name, grouping, group)
            assert metrics[key] == pytest.approx(value)
            assert metrics[f"{key}_ci_low"] <= value <= metrics[f"{key}_ci_high"]
    assert metrics["test/task/exact_match"] == pytest.approx(0.6)
    assert keys.task_group("test", "f1", "subject", "Counting & Probability") == "test/task/f1/subject/Counting _ Probability"
    n_groups = len(expected)
    assert len(metrics) == 2 * 3 * (1 + n_groups)  # each metric: overall + per group, each with its CI


def test_task_metrics_without_groups_are_the_overall_means():
    metrics = task_metrics("test", [{"exact_match": 1.0}, {"exact_match": 0.0}], [{}, {}])
    assert set(metrics) == {"test/task/exact_match", "test/task/exact_match_ci_low", "test/task/exact_match_ci_high"}
    assert metrics["test/task/exact_match"] == 0.5
    assert np.isfinite(metrics["test/task/exact_match_ci_low"])


@pytest.mark.parametrize("group", ["8k+", "0-4k", "Counting & Probability", "a/b", "été", "3"])
def test_group_keys_are_legal_mlflow_metric_names(group):
    from mlflow.utils.validation import _validate_metric_name

    _validate_metric_name(keys.task_group("test", "retrieval_score", "length", group))
