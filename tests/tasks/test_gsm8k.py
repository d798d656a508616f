"""GSM8K: loading (hub arguments, BENCH_DATA_DIR), and parity with lm-eval's own gsm8k task.

The reference is lm-evaluation-harness itself: its ``gsm8k.yaml`` is loaded unchanged except
that the dataset is the ``json`` builder on local files (no network), a ``ConfigurableTask``
is built from it, and its requests (``build_all_requests``), filters (``apply_filters``) and
metric (``process_results``) are compared with ours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
from entropy_bench.tasks import gsm8k
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.lm_eval_reference import gsm8k_task, gsm8k_yaml

TRAIN = [
    {
        "question": f"Tom has {i} apples and buys {i + 2} more. How many apples?",
        "answer": f"{i} + {i + 2} = <<{i}+{i + 2}={2 * i + 2}>>{2 * i + 2}\n#### {2 * i + 2}",
    }
    for i in range(12)
] + [
    {"question": "A car costs $1,200 and a bike $300. Total?", "answer": "1,200 + 300 = $1,500.\n#### 1,500"},
    {"question": "Sam owes 3 dollars and has 0. Balance?", "answer": "0 - 3 = -3\n#### -3"},
]
TEST = [
    {
        "question": "Janet’s ducks lay 16 eggs. She eats 3, bakes with 4 and sells the rest for $2. How much?",
        "answer": "16 - 3 - 4 = 9\n9 * 2 = $18\n#### 18",
    },
    {
        "question": "A house costs $80,000 and repairs $50,000. Value up 150%. Profit?",
        "answer": "…\n#### 70,000",
    },
    {"question": "It is 5 degrees and drops 15. Temperature?", "answer": "5 - 15 = -10\n#### -10"},
    TRAIN[3],  # a test doc that is also a train row
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> Path:
    write_jsonl(tmp_path / "gsm8k" / "train.jsonl", TRAIN)
    write_jsonl(tmp_path / "gsm8k" / "test.jsonl", TEST)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    return tmp_path


def shared_data() -> Path:
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not (Path(value) / "gsm8k" / "test.jsonl").is_file():
        pytest.skip("BENCH_DATA_DIR with gsm8k/ is not available")
    return Path(value)


def lm_eval_requests(root: Path, num_fewshot: int, limit: int | None = None, test_split: str = "test"):
    task, _ = gsm8k_task(root, num_fewshot, test_split)
    task.build_all_requests(limit=limit)
    return task.instances


# -- registry and parameters -------------------------------------------------------------


def test_registry_lookup_and_did_you_mean():
    assert TASKS.get("gsm8k").factory is gsm8k.GSM8K
    assert TASKS.get("gsm8k").params == {"num_fewshot": 5}
    with pytest.raises(UnknownMethodError, match="did you mean 'gsm8k'"):
        TASKS.get("gsm8kk")
    assert TASKS.build("gsm8k", num_fewshot=0).id == "gsm8k(num_fewshot=0)"


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_invalid_num_fewshot(bad):
    with pytest.raises(InvalidParameterError) as err:
        gsm8k.GSM8K(num_fewshot=bad)
    assert err.value.field == "num_fewshot"


def test_primary_metric_and_stop():
    task = gsm8k.GSM8K()
    assert task.primary_metric == "exact_match_flexible"
    assert "Question:" in task.stop and "<|im_end|>" in task.stop
    assert isinstance(task.version, str)


# -- loading ----------------------------------------------------------------------------


def test_hub_and_local_arguments_differ_only_in_source(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    assert gsm8k.dataset_arguments("test") == {"path": "openai/gsm8k", "name": "main", "split": "test"}
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    assert gsm8k.dataset_arguments("train") == {
        "path": "json",
        "data_files": {"train": str(tmp_path / "gsm8k" / "train.jsonl")},
        "split": "train",
    }


def test_load_from_bench_data_dir(tiny_data):
    task = gsm8k.GSM8K(num_fewshot=3)
    examples = task.load("test")
    assert [e["id"] for e in examples] == [f"gsm8k/test/{i}" for i in range(len(TEST))]
    assert [e["question"] for e in examples] == [r["question"] for r in TEST]
    assert [e["target"] for e in examples] == ["18", "70,000", "-10", "8"]
    assert all(
        len(e["fewshot"]) == 3 and all(s["id"].startswith("gsm8k/train/") for s in e["fewshot"])
        for e in examples
    )
    assert len(task.load("test", limit=2)) == 2
    assert len(task.load("train")) == len(TRAIN)
    assert gsm8k.GSM8K(num_fewshot=0).load("test")[0]["fewshot"] == []


def test_load_rejects_bad_split_and_limit(tiny_data):
    with pytest.raises(InvalidParameterError, match="split"):
        gsm8k.GSM8K().load("validation")
    with pytest.raises(InvalidParameterError, match="limit"):
        gsm8k.GSM8K().load("test", limit=-1)


def test_load_shared_data():
    shared_data()
    task = gsm8k.GSM8K()
    test, train = task.load("test"), gsm8k.load_rows("train")
    assert (len(test), len(train)) == (1319, 7473)
    assert len({e["id"] for e in test}) == len(test)
    assert test[0]["question"].startswith("Janet’s ducks lay 16 eggs per day.")
    assert test[0]["target"] == "18"


# -- prompt parity with lm-eval ----------------------------------------------------------


@pytest.mark.parametrize("num_fewshot", [0, 1, 5])
def test_prompt_equals_lm_eval(tiny_data, num_fewshot):
    ours = gsm8k.GSM8K(num_fewshot=num_fewshot)
    examples = ours.load("test")
    instances = lm_eval_requests(tiny_data, num_fewshot)
    assert len(instances) == len(examples)
    for example, inst in zip(examples, instances):
        context, gen_kwargs = inst.arguments
        assert ours.prompt(example) == context
        assert list(ours.stop) == gen_kwargs["until"]


def test_prompt_shape(tiny_data):
    example = gsm8k.GSM8K(num_fewshot=2).load("test", limit=1)[0]
    shot = example["fewshot"][0]
    prompt = gsm8k.GSM8K(num_fewshot=2).prompt(example)
    assert prompt.startswith(f"Question: {shot['question']}\nAnswer: {shot['answer']}\n\nQuestion: ")
    assert prompt.endswith(f"\n\nQuestion: {example['question']}\nAnswer:")


def test_prompt_equals_lm_eval_when_evaluating_the_fewshot_split(tiny_data):
    """Evaluating train: lm-eval draws num_fewshot + 1 rows and drops the doc itself."""
    examples = gsm8k.GSM8K(num_fewshot=5).load("train")
    instances = lm_eval_requests(tiny_data, 5, test_split="train")
    assert [gsm8k.GSM8K().prompt(e) for e in examples] == [i.arguments[0] for i in instances]
    assert all(e["question"] not in {s["question"] for s in e["fewshot"]} for e in examples)


def test_prompt_equals_lm_eval_shared_data():
    root = shared_data()
    limit = 40
    ours = gsm8k.GSM8K()
    examples = ours.load("test", limit=limit)
    instances = lm_eval_requests(root, 5, limit=limit)
    assert [ours.prompt(e) for e in examples] == [i.arguments[0] for i in instances]


# -- extraction and exact_match parity with lm-eval -------------------------------------

OUTPUTS = [
    " Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18 every day.\n#### 18",
    " The answer is 18.",
    " She makes $18.",
    " #### 18",
    "#### 18.",
    "#### 18\n#### 19",
    "#### $18",
    "#### 18.00",
    " It is 70,000 dollars.",
    "#### 70,000",
    "#### 70000",
    "Profit = $70,000.",
    "The house costs $80,000; profit is 70,000.",
    "#### -10",
    "It is -10 degrees.",
    "It is 10 degrees below zero",
    "3 apples and 4 pears make 7 fruits, so 8.",
    "1.5 + 2.5 = 4.0",
    "1/2 of 16 is 8",
    "no number here",
    "",
    "$",
    "$$",
    "..",
    "-",
    ",8",
    "8,",
    "-.5",
    "0018",
    "1e5",
    "The answer is eighteen",
    "#### ",
    "####18",
    "#### -",
    "18\n\n",
    "I think 18 (eighteen).",
]


@pytest.fixture
def lm_eval_scorer(tiny_data):
    """``text -> [{filter name: (filtered answer, exact_match)} for each TEST doc]``, by lm-eval."""
    task, _ = gsm8k_task(tiny_data, num_fewshot=0)
    task.build_all_requests()

    def score(text: str) -> list[dict[str, tuple[str, float]]]:
        for inst in task.instances:
            inst.resps, inst.filtered_resps = [text], {}
        task.apply_filters()
        return [
            {
                name: (answer, task.process_results(inst.doc, [answer])["exact_match"])
                for name, answer in inst.filtered_resps.items()
            }
            for inst in task.instances
        ]

    return score


def test_filters_match_lm_eval_yaml():
    config = gsm8k_yaml()
    filters = {f["name"]: f["filter"][0] for f in config["filter_list"]}
    assert filters["strict-match"]["regex_pattern"] == gsm8k.STRICT_PATTERN
    assert filters["flexible-extract"]["regex_pattern"] == gsm8k.FLEXIBLE_PATTERN
    assert filters["flexible-extract"]["group_select"] == -1
    [metric] = config["metric_list"]
    assert metric["regexes_to_ignore"] == list(gsm8k.REGEXES_TO_IGNORE)
    assert (metric["ignore_case"], metric["ignore_punctuation"]) == (True, False)
    assert config["generation_kwargs"]["until"] == list(gsm8k.STOP)


def test_extraction_and_exact_match_equal_lm_eval(tiny_data, lm_eval_scorer):
    task = gsm8k.GSM8K(num_fewshot=0)
    examples = task.load("test")
    hits = {"strict-match": 0, "flexible-extract": 0}
    for text in OUTPUTS:
        for example, ref in zip(examples, lm_eval_scorer(text), strict=True):
            hits = {name: hits[name] + ref[name][1] for name in hits}
            assert gsm8k.extract_strict(text) == ref["strict-match"][0], text
            assert gsm8k.extract_flexible(text) == ref["flexible-extract"][0], text
            assert task.score(example, text) == {
                "exact_match_strict": ref["strict-match"][1],
                "exact_match_flexible": ref["flexible-extract"][1],
            }, (example["target"], text)
    assert min(hits.values()) >= 3  # the strings exercise matches as well as misses


def test_regex_filter_class_agrees():
    """Extraction against lm-eval's ``RegexFilter`` directly, with the yaml's arguments."""
    from lm_eval.filters.extraction import RegexFilter

    strict = RegexFilter(regex_pattern=gsm8k.STRICT_PATTERN)
    flexible = RegexFilter(regex_pattern=gsm8k.FLEXIBLE_PATTERN, group_select=-1)
    assert [r[0] for r in strict.apply([[t] for t in OUTPUTS], [])] == [
        gsm8k.extract_strict(t) for t in OUTPUTS
    ]
    assert [r[0] for r in flexible.apply([[t] for t in OUTPUTS], [])] == [
        gsm8k.extract_flexible(t) for t in OUTPUTS
    ]


def test_exact_match_equals_lm_eval_metric():
    from lm_eval.api.metrics import exact_match_hf_evaluate

    references = [r["answer"] for r in TEST + TRAIN] + [
        "#### 1,000",
        "18.",
        "$18",
        "ABC",
        "[invalid]",
        "a\n#### b\n#### 7",
    ]
    predictions = [
        "18",
        "70000",
        "70,000",
        "-10",
        "$-10.",
        "8",
        "8.",
        "[invalid]",
        "1000",
        "18",
        "abc",
        "7",
        "1,500",
        "-3",
    ]
    for ref in references:
        for pred in predictions + [gsm8k.extract_flexible(t) for t in OUTPUTS]:
            expected = exact_match_hf_evaluate(
                predictions=[pred],
                references=[ref],
                regexes_to_ignore=list(gsm8k.REGEXES_TO_IGNORE),
                ignore_case=True,
                ignore_punctuation=False,
            )["exact_match"]
            assert gsm8k.exact_match(pred, ref) == expected, (pred, ref)


def test_score_hand_written(tiny_data):
    task = gsm8k.GSM8K(num_fewshot=0)
    janet, house, cold, _ = task.load("test")
    assert task.score(janet, " 9 * 2 = 18\n#### 18") == {
        "exact_match_strict": 1.0,
        "exact_match_flexible": 1.0,
    }
    assert task.score(janet, " She makes $18.") == {"exact_match_strict": 0.0, "exact_match_flexible": 1.0}
    assert task.score(janet, " 18 eggs, no wait, 9") == {
        "exact_match_strict": 0.0,
        "exact_match_flexible": 0.0,
    }
    assert task.score(house, "#### 70000")["exact_match_strict"] == 1.0
    assert task.score(cold, "It is -10.")["exact_match_flexible"] == 1.0


def test_score_cuts_at_stop_sequences(tiny_data):
    """lm-eval's model cuts the generation at ``until``; text after a stop never counts."""
    task = gsm8k.GSM8K(num_fewshot=0)
    janet = task.load("test", limit=1)[0]
    assert task.score(janet, " 18\n\nQuestion: what is 7?\nAnswer: 7")["exact_match_flexible"] == 1.0
    assert task.score(janet, " 18<|im_end|> 7")["exact_match_flexible"] == 1.0
