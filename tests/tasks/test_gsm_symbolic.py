"""GSM-Symbolic (reasoning-gym's generators): determinism, agreement with reasoning-gym, few-shot
shots, GSM8K's prompt format, scoring against reasoning-gym's own ``score_answer``."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import reasoning_gym

from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
from entropy_bench.tasks import gsm8k, gsm_symbolic
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.gsm_symbolic import GSMSymbolic

N = 200


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    return GSMSymbolic().load(limit=N)


def rg_entries(seed: int, size: int, stream: int = 0) -> tuple[list[dict], list[int]]:
    """reasoning-gym's own entries and templates for the task's ``seed`` and ``stream``."""
    dataset = reasoning_gym.create_dataset("gsm_symbolic", seed=(2 * seed + stream) * 2**32, size=size)
    return [dataset[i] for i in range(size)], dataset.task_indices


# -- registry and parameters -------------------------------------------------------------


def test_registry_lookup_and_did_you_mean():
    entry = TASKS.get("gsm_symbolic")
    assert entry.factory is GSMSymbolic
    assert entry.params == {"num_fewshot": 5, "seed": 0, "n_examples": 1000}
    assert "2410.05229" in entry.url and "Mirzadeh" in entry.paper and "Stojanovski" in entry.paper
    with pytest.raises(UnknownMethodError, match="did you mean 'gsm_symbolic'"):
        TASKS.get("gsm_symbolics")
    built = TASKS.build("gsm_symbolic", seed=3, n_examples=10)
    assert built.id == "gsm_symbolic(n_examples=10,num_fewshot=5,seed=3)"


@pytest.mark.parametrize(
    "field, bad", [("seed", -1), ("seed", 1.5), ("seed", True), ("n_examples", 0), ("n_examples", 2.0),
                   ("num_fewshot", -1), ("num_fewshot", True)]
)
def test_invalid_parameters(field, bad):
    with pytest.raises(InvalidParameterError) as err:
        GSMSymbolic(**{field: bad})
    assert err.value.field == field


def test_build_rejects_strings_and_unknown_parameters():
    with pytest.raises(InvalidParameterError, match="seed"):
        TASKS.build("gsm_symbolic", seed="0")
    with pytest.raises(InvalidParameterError, match="difficulty"):
        TASKS.build("gsm_symbolic", difficulty=1.0)


def test_load_rejects_bad_split_and_limit():
    with pytest.raises(InvalidParameterError, match="split"):
        GSMSymbolic().load("train")
    with pytest.raises(InvalidParameterError, match="limit"):
        GSMSymbolic().load("test", limit=-1)
    assert GSMSymbolic().splits == ("test",)


def test_reasoning_gym_has_no_difficulty_knob():
    """Its config has ``difficulty`` but accepts only 1.0, so the task has no such parameter."""
    with pytest.raises(AssertionError):
        reasoning_gym.create_dataset("gsm_symbolic", seed=0, size=1, difficulty=2.0)


# -- generation --------------------------------------------------------------------------


def test_same_seed_same_problems_and_prefixes(examples):
    assert GSMSymbolic().load(limit=N) == examples
    assert GSMSymbolic(n_examples=50).load() == examples[:50]
    assert GSMSymbolic().load(limit=7) == examples[:7]
    assert GSMSymbolic(n_examples=3).load(limit=10) == examples[:3]
    assert GSMSymbolic().load(limit=0) == []


def test_different_seeds_differ(examples):
    other = GSMSymbolic(seed=1).load(limit=N)
    shared = {e["question"] for e in examples} & {e["question"] for e in other}
    assert len(shared) <= N // 50  # only the rare chance repeats of a template's small number ranges
    assert [e["template"] for e in examples] != [e["template"] for e in other]


def test_golden_values():
    """Seed 0 as reasoning-gym 0.1.25 generates it: a change here means other problems under
    the same task version (a reasoning-gym release that changed its generators)."""
    first = GSMSymbolic(num_fewshot=1).load(limit=3)
    assert [e["target"] for e in first] == ["28080", "44", "104"]
    assert [e["template"] for e in first] == [81, 70, 38]
    assert first[0]["question"].startswith("A carpenter works for 2 weeks every month")


def test_examples_are_reasoning_gyms_entries(examples):
    entries, templates = rg_entries(0, N)
    for i, (example, entry) in enumerate(zip(examples, entries, strict=True)):
        assert example["id"] == f"gsm_symbolic/0/{i}"
        assert example["target"] == entry["answer"]
        assert example["question"] + gsm_symbolic.INSTRUCTION == entry["question"]
        assert example["template"] == templates[i]
        body, _, last = entry["metadata"]["answer_cot"].rpartition("#### ")
        assert example["answer"] == f"{body}#### {entry['answer']}"
        assert float(last) == float(entry["answer"])


def test_float_final_lines_are_rewritten(examples):
    """Templates that end their solution in ``#### 8.0`` for the answer ``8`` get ``#### 8``."""
    entries, _ = rg_entries(0, N)
    finals = [r["metadata"]["answer_cot"].rpartition("#### ")[2] for r in entries]
    rewritten = [e for e, final in zip(examples, finals, strict=True) if final != e["target"]]
    assert rewritten
    assert all(e["answer"].endswith(f"\n#### {e['target']}") for e in rewritten)


def test_examples_are_json_and_ids_unique(examples):
    assert json.loads(json.dumps(examples)) == examples
    ids = [e["id"] for e in examples] + [s["id"] for e in examples for s in e["fewshot"]]
    assert len(set(ids)) == len(ids)


def test_fewshot_shots_come_from_the_shot_stream(examples):
    entries, templates = rg_entries(0, 6 * N, stream=1)
    used = []
    for example in examples:
        assert len(example["fewshot"]) == 5
        for shot in example["fewshot"]:
            j = int(shot["id"].removeprefix("gsm_symbolic/0/fewshot/"))
            assert shot["question"] + gsm_symbolic.INSTRUCTION == entries[j]["question"]
            assert (shot["target"], shot["template"]) == (entries[j]["answer"], templates[j])
            assert shot["template"] != example["template"]
            used.append(j)
    assert used == sorted(set(used))  # each shot once, in stream order
    skipped = set(range(used[-1])) - set(used)
    assert skipped and all(  # entries passed over have the template of the question that skipped them
        any(templates[j] == e["template"] for e in examples) for j in skipped
    )
    assert GSMSymbolic(num_fewshot=0).load(limit=3)[0]["fewshot"] == []


def test_shot_indices_by_hand(monkeypatch):
    """Each question takes the next shots not of its template; those passed over are not reused."""
    monkeypatch.setattr(gsm_symbolic, "templates", lambda seed: iter([7, 7, 3, 7, 1, 2, 7, 5]))
    assert gsm_symbolic.shot_indices([7, 3], 2, seed=0) == [[2, 4], [5, 6]]
    assert gsm_symbolic.shot_indices([7, 3], 0, seed=0) == [[], []]


def test_templates_follow_reasoning_gym_across_growth():
    expected = reasoning_gym.create_dataset("gsm_symbolic", seed=11, size=400).task_indices
    assert list(itertools.islice(gsm_symbolic.templates(11), 400)) == expected


def test_template_list_is_prefix_stable():
    """What ``load(limit)`` and :func:`gsm_symbolic.templates` rely on."""
    small = reasoning_gym.create_dataset("gsm_symbolic", seed=5, size=10)
    large = reasoning_gym.create_dataset("gsm_symbolic", seed=5, size=1000)
    assert small.task_indices == large.task_indices[:10]
    assert [small[i] for i in range(10)] == [large[i] for i in range(10)]


def test_instruction_ends_every_question():
    entries, _ = rg_entries(0, 500)
    assert all(e["question"].endswith(gsm_symbolic.INSTRUCTION) for e in entries)


def test_thousand_examples_are_fast():
    start = time.perf_counter()
    GSMSymbolic(seed=2).load()
    assert time.perf_counter() - start < 10


# -- prompt ------------------------------------------------------------------------------


def test_prompt_is_gsm8ks(examples):
    task = GSMSymbolic()
    for example in examples[:20]:
        shots = "".join(f"Question: {s['question']}\nAnswer: {s['answer']}\n\n" for s in example["fewshot"])
        prompt = task.prompt(example)
        assert prompt == shots + f"Question: {example['question']}\nAnswer:"
        assert prompt == gsm8k.GSM8K().prompt(example)
        assert gsm_symbolic.INSTRUCTION.strip() not in prompt
    assert task.stop == gsm8k.STOP
    assert task.primary_metric == gsm8k.GSM8K.primary_metric == "exact_match_flexible"


def test_with_question_changes_the_prompt_only_there(examples):
    task = GSMSymbolic()
    perturbed = task.with_question(examples[0], "How many?")
    assert task.prompt(perturbed).endswith("\n\nQuestion: How many?\nAnswer:")
    text = "#### " + examples[0]["target"]
    assert task.score(perturbed, text) == task.score(examples[0], text)


# -- scoring -----------------------------------------------------------------------------


def test_gold_solution_scores_one_everywhere():
    task = GSMSymbolic(num_fewshot=0)
    for example in task.load():
        rg = 0.01 if example["target"].startswith("-") else 1.0  # see the test on negative targets
        scores = task.score(example, " " + example["answer"])
        assert scores == {"exact_match_strict": 1.0, "exact_match_flexible": 1.0, "rg_score": rg}
        assert task.extract(example["answer"]) == task.target(example) == example["target"]


def test_wrong_and_missing_answers(examples):
    task = GSMSymbolic()
    example = examples[0]
    wrong = str(int(example["target"]) + 1)
    assert task.score(example, f" so it is {wrong}.\n#### {wrong}") == {
        "exact_match_strict": 0.0,
        "exact_match_flexible": 0.0,
        "rg_score": 0.01,  # reasoning-gym's reward for a wrong number
    }
    assert task.score(example, " I do not know") == {
        "exact_match_strict": 0.0,
        "exact_match_flexible": 0.0,
        "rg_score": 0.0,
    }
    assert task.answer(" I do not know") is None


def test_scores_cut_at_stop_sequences(examples):
    task = GSMSymbolic()
    example = examples[1]
    text = f" #### {example['target']}\n\nQuestion: what is 7?\nAnswer: 7"
    assert task.score(example, text) == {"exact_match_strict": 1.0, "exact_match_flexible": 1.0, "rg_score": 1.0}


def test_score_differences_between_exact_match_and_rg_score():
    """``exact_match`` compares strings (after GSM8K's normalisation), ``rg_score`` floats, from
    the first number reasoning-gym's regex finds."""
    task = GSMSymbolic()
    example = {"id": "x", "question": "q", "answer": "… #### 288", "target": "288", "template": 0, "fewshot": []}
    cases = {
        "#### 288.0": (0.0, 0.0, 1.0),
        "#### 288": (1.0, 1.0, 1.0),
        "It is $288.": (0.0, 1.0, 1.0),
        "It is 288.00": (0.0, 0.0, 1.0),
    }
    for text, expected in cases.items():
        scores = task.score(example, text)
        assert (scores["exact_match_strict"], scores["exact_match_flexible"], scores["rg_score"]) == expected, text
    thousands = {**example, "answer": "… #### 1500", "target": "1500"}
    assert task.score(thousands, "It is 1,500.") == {
        "exact_match_strict": 0.0,
        "exact_match_flexible": 1.0,
        "rg_score": 0.01,  # reasoning-gym reads "1,500" as 1
    }


ANSWERS = ["288", "288.0", " 288", "$288", "288.", "288 dollars", "1,288", "-288", "287", "[invalid]", "", "x288"]


@pytest.mark.parametrize("answer", ANSWERS)
def test_rg_score_equals_reasoning_gyms_score_answer(answer):
    dataset = reasoning_gym.create_dataset("gsm_symbolic", seed=0, size=1)
    for target in ("288", "-288", "1288", "28.5"):
        entry = {"question": "q", "answer": target, "metadata": {}}
        assert gsm_symbolic.rg_score(answer, target) == dataset.score_answer(answer=answer, entry=entry)


def test_rg_score_equals_score_answer_on_real_entries():
    entries, _ = rg_entries(0, 30)
    dataset = reasoning_gym.create_dataset("gsm_symbolic", seed=0, size=30)
    for entry in entries:
        target = entry["answer"]
        for answer in (target, f"{target}.0", f" {target}", f"${target}", str(float(target) + 1), "none"):
            assert gsm_symbolic.rg_score(answer, target) == dataset.score_answer(answer=answer, entry=entry)


def test_rg_score_never_gives_negative_targets_full_credit():
    """reasoning-gym's regex starts at ``\\b``, which drops a leading minus: its own bug, kept."""
    assert gsm_symbolic.rg_score("-1", "-1") == 0.01
    assert gsm_symbolic.rg_score("1", "-1") == 0.01
