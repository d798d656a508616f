"""MATH-500: loading (hub arguments, BENCH_DATA_DIR, a local directory standing in for the
hub, clear errors on bad files), parity with lm-eval's own ``minerva_math500`` task, and
math-verify's verdicts on hand-written answer pairs.

The reference is lm-evaluation-harness itself: its ``minerva_math500.yaml`` is loaded with
lm-eval's YAML loader, a ``ConfigurableTask`` is built from it on local files (the ``json``
builder, no network), and its prompts, ``minerva_math/utils.py`` extraction functions and
``math_verify`` metric are compared with ours (that ``utils.py`` imports only beside
antlr4-python3-runtime 4.11, which the project pins: sympy's ``parse_latex`` needs it).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
from entropy_bench.tasks import math500
from entropy_bench.tasks.base import TASKS, DataFileError

TEST = [
    {
        "problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
        "solution": "We have $\\frac{1}{2} + \\frac{1}{4} = \\frac{2}{4} + \\frac{1}{4} = \\boxed{\\frac{3}{4}}$.",
        "answer": "\\frac{3}{4}",
        "subject": "Prealgebra",
        "level": 1,
        "unique_id": "test/prealgebra/1.json",
    },
    {
        "problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.",
        "solution": "We have $r = 3$ and $\\theta = \\frac{\\pi}{2}$, so $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
        "subject": "Precalculus",
        "level": 2,
        "unique_id": "test/precalculus/807.json",
    },
    {
        "problem": "Find the domain of $\\sqrt{x-2}$.",
        "solution": "We need $x - 2 \\ge 0$, so the domain is $\\boxed{[2,\\infty)}$.",
        "answer": "[2,\\infty)",
        "subject": "Algebra",
        "level": 3,
        "unique_id": "test/algebra/7.json",
    },
    {
        "problem": "How many positive divisors does $12$ have?",
        "solution": "They are 1, 2, 3, 4, 6 and 12: $\\boxed{6}$.",
        "answer": "6",
        "subject": "Number Theory",
        "level": 1,
        "unique_id": "test/number_theory/3.json",
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def final(answer: str) -> str:
    """A Minerva-style ending with ``answer`` as the final answer."""
    return f" So it is $\\boxed{{{answer}}}$.\nFinal Answer: The final answer is ${answer}$. I hope it is correct."


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> Path:
    write_jsonl(tmp_path / "math500" / "test.jsonl", TEST)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def lm_config() -> dict:
    """lm-eval's ``minerva_math500.yaml`` as installed, ``include`` merged and ``!function``s imported."""
    from entropy_bench.tasks.lm_eval_reference import math500_yaml

    return math500_yaml()


@pytest.fixture(scope="module")
def lm_utils(lm_config):
    """lm-eval's ``minerva_math/utils.py`` module."""
    return inspect.getmodule(lm_config["process_results"])


def lm_eval_instances(root: Path, num_fewshot: int, limit: int | None = None):
    """lm-eval's task reading ``root/math500/test.jsonl`` as its test split: its requests, in order."""
    from entropy_bench.tasks.lm_eval_reference import math500_task

    task, _ = math500_task(root, num_fewshot)
    task.build_all_requests(limit=limit)
    return task.instances


# -- registry and parameters -------------------------------------------------------------


def test_registry_lookup_and_did_you_mean():
    assert TASKS.get("math500").factory is math500.MATH500
    assert TASKS.get("math500").params == {"num_fewshot": 4}
    with pytest.raises(UnknownMethodError, match="did you mean 'math500'"):
        TASKS.get("math5000")
    assert TASKS.build("math500", num_fewshot=0).id == "math500(num_fewshot=0)"


@pytest.mark.parametrize("bad", [-1, 5, 1.5, True])
def test_invalid_num_fewshot(bad):
    with pytest.raises(InvalidParameterError) as err:
        math500.MATH500(num_fewshot=bad)
    assert err.value.field == "num_fewshot"


def test_interface_fields_follow_lm_eval_yaml(lm_config):
    task = math500.MATH500()
    assert task.primary_metric == "answer_equivalent" and task.no_answer == "[invalidanswer]"
    assert list(task.stop) == lm_config["generation_kwargs"]["until"]
    assert lm_config["num_fewshot"] == task.num_fewshot == len(math500.FEWSHOT)
    assert (lm_config["dataset_path"], lm_config["dataset_name"]) == (math500.HUB_PATH, math500.HUB_CONFIG)
    assert lm_config["metadata"]["version"] == 3.1  # the version the module docstring follows
    assert isinstance(task.version, str) and task.question_field == "problem"


# -- loading ----------------------------------------------------------------------------


def test_hub_and_local_arguments_differ_only_in_source(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    assert math500.dataset_arguments("test") == {"path": "HuggingFaceH4/MATH-500", "name": "default", "split": "test"}
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    assert math500.dataset_arguments("test") == {
        "path": "json",
        "data_files": {"test": str(tmp_path / "math500" / "test.jsonl")},
        "split": "test",
    }


def test_load_from_bench_data_dir(tiny_data):
    task = math500.MATH500()
    examples = task.load("test")
    assert [e["id"] for e in examples] == [f"math500/test/{i}" for i in range(len(TEST))]
    assert [e["problem"] for e in examples] == [r["problem"] for r in TEST]
    assert [e["target"] for e in examples] == [r["answer"] for r in TEST]
    assert [(e["subject"], e["level"], e["unique_id"]) for e in examples] == [
        (r["subject"], r["level"], r["unique_id"]) for r in TEST
    ]
    assert [task.target(e) for e in examples] == [r["answer"] for r in TEST]
    assert [e["id"] for e in task.load("test", limit=2)] == ["math500/test/0", "math500/test/1"]
    assert task.load("test", limit=0) == []


def test_load_through_the_hub_path_with_a_local_directory_as_the_hub(tmp_path, monkeypatch):
    """The hub branch end to end: the same ``load_dataset(path, name="default", split)`` call,
    with a directory holding ``test.jsonl`` in place of ``HuggingFaceH4/MATH-500``."""
    write_jsonl(tmp_path / "hub" / "test.jsonl", TEST)
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setattr(math500, "HUB_PATH", str(tmp_path / "hub"))
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: True)
    examples = math500.MATH500().load("test", limit=3)
    assert [(e["target"], e["subject"], e["level"]) for e in examples] == [
        (r["answer"], r["subject"], r["level"]) for r in TEST[:3]
    ]


def test_unreachable_hub_without_bench_data_dir(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: False)
    with pytest.raises(ConnectionError, match="HuggingFaceH4/MATH-500"):
        math500.MATH500().load("test")


def test_load_rejects_bad_split_and_limit(tiny_data):
    with pytest.raises(InvalidParameterError, match="split"):
        math500.MATH500().load("train")
    with pytest.raises(InvalidParameterError, match="limit"):
        math500.MATH500().load("test", limit=-1)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        ('{"problem": "1 + 1?", "solution": \n', "not JSON lines"),
        ("".join(json.dumps({k: v for k, v in r.items() if k != "level" or i != 2}) + "\n" for i, r in enumerate(TEST)),
         "row 2 (from 0) has no level"),
        (json.dumps({"question": "1 + 1?", "answer": "2"}) + "\n",
         "row 0 (from 0) has no problem, solution, subject, level, unique_id"),
    ],
)
def test_missing_or_malformed_file_is_one_clear_error(tmp_path, monkeypatch, content, problem):
    path = tmp_path / "math500" / "test.jsonl"
    if content is not None:
        path.parent.mkdir(parents=True)
        path.write_text(content)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataFileError) as err:
        math500.MATH500().load("test")
    assert str(err.value).startswith(f"{path}: {problem}")
    assert str(err.value).endswith("expected rows with the fields problem, solution, answer, subject, level, unique_id")


def test_load_shared_data(shared_data):
    examples = math500.MATH500().load("test")
    assert len(examples) == 500 and len({e["unique_id"] for e in examples}) == 500
    subjects = {s: sum(e["subject"] == s for e in examples) for s in {e["subject"] for e in examples}}
    assert subjects == {
        "Algebra": 124, "Intermediate Algebra": 97, "Prealgebra": 82, "Number Theory": 62,
        "Precalculus": 56, "Geometry": 41, "Counting & Probability": 38,
    }
    assert [sum(e["level"] == level for e in examples) for level in range(1, 6)] == [43, 90, 105, 128, 134]
    assert examples[0]["target"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert math500.MATH500().groups(examples[0]) == {"subject": "Precalculus", "level": "2"}


def test_every_shared_reference_parses_and_equals_its_boxed_solution(shared_data, lm_utils):
    """math-verify reads every reference answer as a sympy object; each equals lm-eval's gold
    (the solution's last ``\\boxed{}``) before lm-eval normalises it; a text ending in it scores 1."""
    task = math500.MATH500()
    for example in task.load("test"):
        [parsed, _] = math500.parse_answer(example["target"])
        assert not isinstance(parsed, str), example["target"]
        assert lm_utils.remove_boxed(lm_utils.last_boxed_only_string(example["solution"])) == example["target"]
        assert task.score(example, final(example["target"]))["answer_equivalent"] == 1.0, example["target"]


# -- prompt parity with lm-eval ----------------------------------------------------------


def test_fewshot_rows_equal_lm_eval(lm_utils):
    assert list(math500.FEWSHOT) == [
        {"problem": s["problem"], "solution": s["solution"]} for s in lm_utils.list_fewshot_samples()
    ]


@pytest.mark.parametrize("num_fewshot", [0, 1, 4])
def test_prompt_equals_lm_eval(tiny_data, lm_config, num_fewshot):
    ours = math500.MATH500(num_fewshot=num_fewshot)
    examples = ours.load("test")
    instances = lm_eval_instances(tiny_data, num_fewshot)
    assert len(instances) == len(examples)
    for example, inst in zip(examples, instances):
        context, gen_kwargs = inst.arguments
        assert ours.prompt(example) == context
        assert list(ours.stop) == gen_kwargs["until"]


def test_prompt_shape(tiny_data):
    example = math500.MATH500().load("test", limit=1)[0]
    prompt = math500.MATH500(num_fewshot=2).prompt(example)
    first, second = math500.FEWSHOT[:2]
    assert prompt.startswith(f"Problem:\n{first['problem']}\n\nSolution: {first['solution']}\n\nProblem:\n")
    assert f"\n\nSolution: {second['solution']}\n\n" in prompt
    assert prompt.endswith(f"\n\nProblem:\n{example['problem']}\n\nSolution:")
    assert math500.MATH500(num_fewshot=0).prompt(example) == f"Problem:\n{example['problem']}\n\nSolution:"


def test_prompt_equals_lm_eval_shared_data(shared_data, lm_config):
    limit = 3
    ours = math500.MATH500()
    examples = ours.load("test", limit=limit)
    instances = lm_eval_instances(shared_data, 4, limit=limit)
    assert [ours.prompt(e) for e in examples] == [i.arguments[0] for i in instances]


# -- extraction and the math_verify metric against lm-eval's utils ----------------------

OUTPUTS = [
    " We have $x = 3$, so $x = \\boxed{3}$.\nFinal Answer: The final answer is $3$. I hope it is correct.",
    "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.",
    "Final Answer: The final answer is \\left( 3, \\frac{\\pi}{2} \\right). I hope it is correct.\nMore text.",
    "Final Answer: The final answer is $7$. ",  # cut before the closing sentence: lm-eval appends it
    "Final Answer: The final answer is $7$.",  # no space left before the appended sentence: no match
    "Final Answer: The final answer is 12 apples. I hope it is correct.",
    "Final Answer: The final answer is $1$. I hope it is correct.\nFinal Answer: The final answer is $2$. I hope it is correct.",
    "Final Answer: The final answer is\n$5$. I hope it is correct.",  # "." does not cross lines
    "Final Answer: The final answer is . I hope it is correct.",  # an empty answer
    "Final Answer: The final answer is $6$. I hope it is correct. But \\boxed{9}.",  # the line wins
    "So $x = \\boxed{\\frac{3}{4}}$.",  # boxed only
    "Thus $\\boxed{\\frac{\\sqrt{3}}{2}}$ and nothing else.",  # nested braces
    "First \\boxed{1}, then \\boxed{[2,\\infty)}.",  # the last box
    "The answer is $\\boxed 6$.",  # "\\boxed " up to the next "$"
    "\\boxed 4 and later \\boxed{7}",  # lm-eval's "\\boxed " branch wins, whatever follows
    "It is \\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}",
    "Unclosed \\boxed{3",
    "Framed \\fbox{6}",  # lm-eval's remove_boxed asserts on this: no answer
    "\\boxed6 and {x}",  # a \\boxed without a brace: no answer
    "I do not know.",
    "",
    "$6$",
]


def test_extraction_equals_lm_eval_utils(lm_utils):
    task = math500.MATH500()
    for text in OUTPUTS:
        line, boxed = lm_utils.get_unnormalized_answer(text), lm_utils.last_boxed_only_string(text)
        assert math500.get_unnormalized_answer(text) == line, text
        assert math500.last_boxed_only_string(text) == boxed, text
        if line != "[invalidanswer]":
            expected = line
        elif boxed is not None and boxed.startswith(("\\boxed{", "\\boxed ")):
            expected = lm_utils.remove_boxed(boxed)
            assert math500.remove_boxed(boxed) == expected
        else:
            expected = "[invalidanswer]"
        assert task.extract(text) == expected, text


def test_extract_hand_written():
    task = math500.MATH500()
    extracted = [task.extract(t) for t in OUTPUTS]
    assert extracted == [
        "$3$", "$\\frac{3}{4}$", "\\left( 3, \\frac{\\pi}{2} \\right)", "$7$", "[invalidanswer]",
        "12 apples", "$1$", "[invalidanswer]", "", "$6$", "\\frac{3}{4}", "\\frac{\\sqrt{3}}{2}",
        "[2,\\infty)", "6", "4 and later \\boxed{7}", "\\left( 3, \\frac{\\pi}{2} \\right)",
        "[invalidanswer]", "[invalidanswer]", "[invalidanswer]", "[invalidanswer]", "[invalidanswer]",
        "[invalidanswer]",
    ]


def test_fbox_is_what_lm_eval_remove_boxed_rejects(lm_utils):
    with pytest.raises(AssertionError):
        lm_utils.remove_boxed(lm_utils.last_boxed_only_string("Framed \\fbox{6}"))


def test_extract_cuts_at_the_stop_sequence():
    task = math500.MATH500()
    text = " So $\\boxed{3}$.\n\nProblem:\nWhat is 9?\n\nSolution: \\boxed{9}"
    assert task.extract(text) == "3"
    assert task.extract("Final Answer: The final answer is $3$. I hope it is correct.Problem: 9") == "$3$"


def test_math_verify_metric_equals_lm_eval(tiny_data, lm_utils, monkeypatch):
    """lm-eval's ``process_results`` on the text cut at ``until``; its sympy ``exact_match``
    (``is_equiv``) is stubbed out, its ``math_verify`` kept."""
    monkeypatch.setattr(lm_utils, "is_equiv", lambda x1, x2: False)
    task = math500.MATH500()
    examples = task.load("test")
    texts = OUTPUTS + [final(r["answer"]) for r in TEST] + [f"{final('6')}\n\nProblem:\n{final('7')}"]
    hits = 0
    for example in examples:
        doc = {"solution": example["solution"], "answer": example["target"]}
        for text in texts:
            expected = lm_utils.process_results(doc, [text.split("Problem:")[0]])["math_verify"]
            assert task.score(example, text)["math_verify"] == expected, (example["target"], text)
            hits += expected
    assert hits >= 4  # the texts exercise matches as well as misses


# -- scoring ----------------------------------------------------------------------------


def test_score_hand_written(tiny_data):
    task = math500.MATH500()
    quarter, polar, domain, divisors = task.load("test")
    assert task.score(quarter, final("0.75")) == {"answer_equivalent": 1.0, "math_verify": 1.0}
    assert task.score(quarter, "So it is $\\boxed{\\dfrac34}$.")["answer_equivalent"] == 1.0
    assert task.score(quarter, final("\\frac{1}{2}")) == {"answer_equivalent": 0.0, "math_verify": 0.0}
    assert task.score(polar, final("(3, \\frac{\\pi}{2})"))["answer_equivalent"] == 1.0
    assert task.score(polar, final("(\\frac{\\pi}{2}, 3)"))["answer_equivalent"] == 0.0
    assert task.score(domain, "Final Answer: The final answer is $x \\ge 2$. I hope it is correct.")["answer_equivalent"] == 0.0
    assert task.score(domain, final("[2, \\infty)"))["answer_equivalent"] == 1.0
    assert task.score(divisors, "I am not sure.")["answer_equivalent"] == 0.0
    assert task.score(divisors, " The divisors are 1, 2, 3, 4, 6, 12, so there are 6.") == {
        "answer_equivalent": 0.0,  # no final-answer line, no box: no answer
        "math_verify": 1.0,  # lm-eval's metric reads the last number of the whole text
    }


def test_score_cuts_at_stop_sequences(tiny_data):
    divisors = math500.MATH500().load("test")[3]
    assert math500.MATH500().score(divisors, f"{final('6')}\n\nProblem:\n{final('7')}")["answer_equivalent"] == 1.0
    assert math500.MATH500().score(divisors, f" Hmm.\n\nProblem:\n{final('6')}")["answer_equivalent"] == 0.0


# -- answer equivalence: math-verify's verdicts on hand-written pairs -------------------
# (gold, prediction, verdict): each verdict is what math-verify gives (run, not assumed) and
# what a careful grader would want, except where a comment says "questionable".

PAIRS = [
    # fractions, decimals, \dfrac, shorthand
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac12", True),
    ("\\frac{1}{2}", "1/2", True),
    ("1/2", "2/4", True),
    ("\\frac{9}{4}", "2.25", True),
    ("-\\frac{2}{3}", "\\frac{-2}{3}", True),
    ("-\\frac{2}{3}", "\\frac{2}{3}", False),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("\\frac13", "0.333", False),  # a 3-decimal approximation is not the exact answer
    ("\\frac13", "0.3333333", True),  # questionable: math-verify rounds to 6 decimals, so this passes
    ("0.\\overline{3}", "\\frac{1}{3}", False),  # questionable: math-verify misreads the repeating decimal
    # equations and assignments
    ("5", "x=5", True),
    ("x=5", "5", True),
    ("y = 2x + 3", "2x + 3", True),
    ("y=2x+3", "y = 3 + 2x", True),
    # intervals and inequalities
    ("[2,5)", "[2, 5)", True),
    ("[2,5)", "x \\in [2,5)", True),
    ("[2,5)", "(2,5]", False),
    ("[2,5)", "[2,5]", False),
    ("(-\\infty, 3]", "(-\\infty,3]", True),
    ("(-\\infty, 3]", "x \\le 3", False),  # defensible: MATH asks for interval notation there
    # degrees and units
    ("90^\\circ", "90", True),
    ("90^\\circ", "90 \\text{ degrees}", True),
    ("90^\\circ", "\\frac{\\pi}{2}", False),  # questionable: the same angle, in radians
    ("5\\text{ cm}", "5", True),
    ("5", "5 \\text{ apples}", True),
    ("30", "30\\text{ mph}", True),
    ("\\frac{1}{2}", "\\frac{1}{2} \\text{ hours}", True),
    # thousands separators and dollars
    ("1000", "1,000", True),
    ("1,000,000", "10^6", True),
    ("10080", "10,080", True),
    ("1000", "1.000", False),
    ("\\$18", "18", True),
    ("\\$5.50", "5.5", True),
    ("\\$1,000", "1000", True),
    # mixed numbers
    ("3\\frac{1}{2}", "\\frac{7}{2}", True),
    ("1 \\frac{1}{2}", "1.5", True),
    ("\\frac{3}{2}", "1\\frac12", True),
    # sets and lists of solutions
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("-2, 1", "1, -2", True),
    ("1, 3", "1 \\text{ and } 3", True),
    ("\\{1,2\\}", "\\{1,2,3\\}", False),
    # matrices and vectors
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", True),
    ("\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", "\\left(\\begin{array}{c} -1 \\\\ 2 \\end{array}\\right)", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", False),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)", False),  # questionable: a vector written as a tuple
    # percent
    ("50\\%", "50", True),
    ("50\\%", "0.5", False),  # on the antlr4 4.11 parser (lm-eval[math]'s; 4.13.2's also accepts 0.5)
    ("25", "25\\%", True),
    ("12", "12\\%", True),  # questionable: 12% is 0.12, but math-verify ignores the sign either way
    # square roots
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True),
    ("\\sqrt{3}", "3^{1/2}", True),
    ("\\sqrt{2}", "1.414", False),
    # pi
    ("2\\pi", "2 \\pi", True),
    ("\\pi", "3.14", False),
    ("2\\pi", "\\pi", False),
    # negative numbers
    ("-3", "3", False),
    ("-3", "-\\!3", True),
    ("0", "-0", True),
    # tuples and points
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(\\frac{\\pi}{2}, 3)", False),
    ("(3, 4)", "(4, 3)", False),
    ("(1,2)", "\\{1,2\\}", True),  # questionable: an ordered pair (read as an interval) equals a set
    ("3,4", "(3,4)", True),  # questionable: a list of two solutions equals a point
    # \text{} wrappers and words
    ("\\text{Monday}", "\\text{monday}", True),
    ("\\text{Monday}", "Monday", True),
    ("\\text{Monday}", "\\text{Tuesday}", False),
    ("\\text{(C)}", "C", True),
    ("\\text{(C)}", "\\text{(D)}", False),
    ("\\text{(A), (C)}", "A, C", False),  # questionable: the same two choices
    ("9", "\\text{9}", True),
    ("4", "\\text{four}", False),
    # expressions and complex numbers
    ("p - q", "-q + p", True),
    ("x^2+7x+10", "(x+2)(x+5)", True),
    ("x^2+7x+10", "x^2+7x+11", False),
    ("1 + i", "i+1", True),
    ("i", "\\sqrt{-1}", False),  # questionable: i is the square root of -1
]

# pairs math-verify deems equal that ``answer`` names differently ("where feasible" fails)
ANSWER_SPLITS = {
    ("(1,2)", "\\{1,2\\}"),  # an interval and a set
    ("3,4", "(3,4)"),  # a set and an interval
    ("\\text{Monday}", "Monday"),  # a name and a product of letters
    ("x^2+7x+10", "(x+2)(x+5)"),  # not expanded (expansion can blow up)
}


def test_pairs_cover_both_verdicts():
    assert len(PAIRS) >= 40 and len(set(PAIRS)) == len(PAIRS)
    assert sum(v for *_, v in PAIRS) >= 20 and sum(not v for *_, v in PAIRS) >= 20


@pytest.mark.parametrize(("gold", "prediction", "verdict"), PAIRS)
def test_math_verify_verdict(gold, prediction, verdict):
    assert math500.answers_equal(gold, prediction) is verdict
    example = {"target": gold, "solution": f"$\\boxed{{{gold}}}$"}
    assert math500.MATH500().score(example, final(prediction))["answer_equivalent"] == float(verdict)


def test_answer_names_math_verify_classes():
    """Two texts with answers math-verify deems equal get one ``answer`` (except the listed
    splits); answers it tells apart never share one."""
    task = math500.MATH500()
    for gold, prediction, verdict in PAIRS:
        same = task.answer(final(gold)) == task.answer(final(prediction))
        assert same is (verdict and (gold, prediction) not in ANSWER_SPLITS), (gold, prediction)


def test_answer_values():
    task = math500.MATH500()
    assert task.answer(final("\\dfrac12")) == task.answer("\\boxed{0.5}") == "0.5"
    assert task.answer(final("x = 2\\sqrt{2}")) == task.answer(final("\\sqrt{8}")) == "2.828427"
    assert task.answer(final("\\{3, -1\\}")) == "FiniteSet(-1,3)"
    assert task.answer(final("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}")) == "Matrix(1;2)"
    assert task.answer(final("2^{60}")) == "1152921504606846976"
    assert task.answer(final("-0.0000001")) == "0"
    assert task.answer(final("10^{400}")) == "1.00000000000000e+400"
    assert task.answer("I do not know.") is None
    assert task.answer("Final Answer: The final answer is . I hope it is correct.") is None
