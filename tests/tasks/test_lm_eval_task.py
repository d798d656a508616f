"""The ``lmeval`` task: any lm-eval generate_until task, as lm-eval itself formats and scores it.

The reference task is lm-eval's own ``gsm8k.yaml``, renamed ``gsm8k_local`` and reading
``$BENCH_DATA_DIR/gsm8k`` (an ``include_path`` directory, as ``scripts/lmeval_adapter_parity.py``
writes it): its prompts must equal lm-eval's ``build_all_requests`` contexts and our native
GSM8K adapter's (byte-identical to lm-eval's), its scores lm-eval's filters and metric.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.runner import run_sweep
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.lm_eval_reference import gsm8k_yaml
from entropy_bench.tasks.lm_eval_task import LMEvalTask, is_local, metric_key, task_manager
from entropy_bench.tracking import PARENT_ID_TAG

TASK = "gsm8k_local"
STOP = ("Question:", "</s>", "<|im_end|>")


@pytest.fixture(scope="module")
def include(tmp_path_factory) -> str:
    """A directory holding lm-eval's gsm8k.yaml as ``gsm8k_local``, reading ``$BENCH_DATA_DIR/gsm8k``."""
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not (Path(value) / "gsm8k" / "test.jsonl").is_file():
        pytest.skip("BENCH_DATA_DIR with gsm8k/ is not available")
    config = gsm8k_yaml()
    config.pop("tag", None)
    files = {s: str((Path(value) / "gsm8k" / f"{s}.jsonl").resolve()) for s in ("train", "test")}
    config.update(task=TASK, dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files})
    directory = tmp_path_factory.mktemp("lm-eval-tasks")
    (directory / f"{TASK}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return str(directory)


def lm_eval_contexts(include: str, limit: int) -> list[str]:
    """lm-eval's own requests for ``gsm8k_local``, as ``simple_evaluate`` builds them (seed 1234)."""
    task = task_manager(include).load([TASK])["tasks"][TASK]
    task.set_fewshot_seed(seed=1234)
    task.build_all_requests(limit=limit)
    return [instance.arguments[0] for instance in task.instances]


# -- the task's config -------------------------------------------------------------------------


def test_registered_with_lm_eval_parameters():
    params = TASKS.get("lmeval").params
    assert params == {"task": dataclasses.MISSING, "num_fewshot": None, "include_path": None, "fewshot_seed": 1234}


def test_stop_length_metric_and_version_come_from_the_yaml(include):
    task = TASKS.build("lmeval", task=TASK, include_path=include)
    assert task.stop == STOP
    assert task.max_new_tokens == 256  # the yaml sets no max_gen_toks: lm-eval's default
    assert task.primary_metric == "exact_match_strict-match"
    assert task.version.startswith("lmeval-0.") and task.version.endswith("/3.0")
    assert (task.splits, task.default_split, task.shots, task.no_answer) == (("test",), "test", 5, "[invalid]")


@pytest.mark.parametrize(("name", "message"), [
    ("arc_easy", "'arc_easy' is a multiple_choice task; only generate_until tasks generate text"),
    ("gsm8k_locl", "did you mean 'gsm8k_local'"),
    ("mmlu", "is an lm-eval group of tasks"),
])
def test_refuses_unknown_names_groups_and_tasks_that_do_not_generate(include, name, message):
    with pytest.raises(InvalidParameterError, match=message) as err:
        LMEvalTask(task=name, include_path=include)
    assert err.value.field == "task"


@pytest.mark.parametrize(("params", "field"), [({"num_fewshot": -1}, "num_fewshot"),
                                               ({"include_path": "/no/such/dir"}, "include_path")])
def test_refuses_bad_parameters(include, params, field):
    with pytest.raises(InvalidParameterError) as err:
        LMEvalTask(**{"task": TASK, "include_path": include, **params})
    assert err.value.field == field


def test_metric_keys_are_mlflow_legal():
    assert metric_key("exact_match", "strict-match") == "exact_match_strict-match"
    assert metric_key("pass@1", "a,b (x)") == "pass_1_a_b _x_"


# -- prompts -----------------------------------------------------------------------------------


def test_prompts_equal_lm_eval_requests_and_our_gsm8k(include):
    task = LMEvalTask(task=TASK, include_path=include)
    examples = task.load("test", limit=5)
    assert [e["id"] for e in examples] == [f"lmeval/{TASK}/test/{i}" for i in range(5)]
    assert [task.prompt(e) for e in examples] == lm_eval_contexts(include, 5)
    native = TASKS.build("gsm8k")
    assert [task.prompt(e) for e in examples] == [native.prompt(e) for e in native.load("test", 5)]
    assert task.load("test", limit=5) == examples  # the sampler is re-seeded at each load
    assert json.loads(json.dumps(examples)) == examples


@pytest.mark.parametrize("num_fewshot", [0, 2])
def test_num_fewshot_overrides_the_yaml_as_our_gsm8k_does(include, num_fewshot):
    ours = LMEvalTask(task=TASK, num_fewshot=num_fewshot, include_path=include)
    native = TASKS.build("gsm8k", num_fewshot=num_fewshot)
    assert [ours.prompt(e) for e in ours.load("test", 3)] == [native.prompt(e) for e in native.load("test", 3)]


# -- scoring -----------------------------------------------------------------------------------


def test_score_applies_each_filter_and_lm_eval_metric(include):
    task = LMEvalTask(task=TASK, include_path=include)
    example = task.load("test", limit=1)[0]
    gold = example["doc"]["answer"]
    assert task.target(example) == gold
    assert task.score(example, gold) == {"exact_match_strict-match": 1.0, "exact_match_flexible-extract": 1.0}
    assert task.score(example, "The answer is 5") == {"exact_match_strict-match": 0.0,
                                                      "exact_match_flexible-extract": 0.0}
    assert task.score(example, "so 18\nQuestion: #### 18")["exact_match_strict-match"] == 0.0  # cut at the stop
    assert task.score(example, "so 18\nQuestion: #### 18")["exact_match_flexible-extract"] == 1.0
    assert (task.extract(gold), task.extract("The answer is 5"), task.answer("no number")) == ("18", "[invalid]", None)


# -- data reachability -------------------------------------------------------------------------


def test_a_hub_dataset_without_the_hub_is_a_connection_error_naming_it(include, monkeypatch):
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: False)
    with pytest.raises(ConnectionError, match="'gsm8k' reads the hub dataset 'openai/gsm8k'"):
        LMEvalTask(task="gsm8k", include_path=include).load("test", limit=1)
    assert len(LMEvalTask(task=TASK, include_path=include).load("test", limit=1)) == 1  # local files: offline


@pytest.mark.parametrize(("path", "files", "local"), [
    ("openai/gsm8k", None, False),
    ("json", {"test": "/data/test.jsonl"}, True),
    ("json", {"test": ["/data/a.jsonl", "https://host/b.jsonl"]}, False),
    ("json", "/data/test.jsonl", True),
    ("allenai/c4", {"test": "en/c4-validation.json.gz"}, False),  # files inside a hub repository
])
def test_is_local(path, files, local):
    config = SimpleNamespace(custom_dataset=None, dataset_path=path,
                             dataset_kwargs=None if files is None else {"data_files": files})
    assert is_local(config) is local


# -- in a sweep --------------------------------------------------------------------------------


def sweep_spec(model: str, *tasks) -> dict:
    return {"name": "lmeval", "models": [model], "tasks": list(tasks), "decoders": ["greedy"], "batch_size": 2}


def test_the_lmeval_shorthand_names_the_lmeval_task(include):
    entry = {"name": f"lmeval:{TASK}", "include_path": include, "num_fewshot": 0, "limit": 2}
    [cell] = sweep.expand(sweep.parse(sweep_spec("m", entry)))
    assert cell.task_run.task == LMEvalTask(task=TASK, num_fewshot=0, include_path=include)
    assert (cell.task_run.limit, cell.task_run.max_new_tokens) == (2, 256)
    [cell] = sweep.expand(sweep.parse(sweep_spec("m", "lmeval:gsm8k")))
    assert cell.task_run.task == LMEvalTask(task="gsm8k")
    assert cell.label == "lmeval:gsm8k/greedy/seed=0"  # the run's name says which lm-eval task
    with pytest.raises(InvalidParameterError, match="given twice"):
        sweep.expand(sweep.parse(sweep_spec("m", {"name": "lmeval:gsm8k", "task": "gsm8k"})))


def test_a_tiny_sweep_logs_the_primary_metric_and_skips_an_optional_hub_task_offline(
        include, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: False)
    entry = {"name": f"lmeval:{TASK}", "include_path": include, "num_fewshot": 0, "limit": 2, "max_new_tokens": 4}
    hub = {"name": "lmeval:gsm8k", "include_path": include, "optional": True, "limit": 2, "max_new_tokens": 4}
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with pytest.warns(UserWarning, match="optional task lmeval.*the hub dataset 'openai/gsm8k'"):
        run_sweep(sweep.parse(sweep_spec(str(tiny_model_dir), entry, hub)), tracking_uri=uri,
                  cache_dir=tmp_path / "cache", progress=False)
    client = MlflowClient(uri)
    [child] = [r for r in client.search_runs([client.get_experiment_by_name("lmeval").experiment_id])
               if PARENT_ID_TAG in r.data.tags]
    metrics = child.data.metrics
    assert metrics["n_examples"] == 2
    assert {"test/task/exact_match_strict-match", "test/task/exact_match_flexible-extract"} <= set(metrics)
