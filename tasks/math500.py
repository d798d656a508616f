"""MATH-500, prompted and answer-extracted as lm-evaluation-harness's ``minerva_math500`` task
(lm-eval 0.4.13, yaml ``metadata.version: 3.1``, from ``minerva_math_algebra.yaml`` and
``minerva_math/utils.py``); answers compared with math-verify.

Prompt (``doc_to_text``; the few-shot rows are lm-eval's four fixed Minerva examples taken in
order by its ``first_n`` sampler, each followed by ``target_delimiter=" "`` and its full
``solution``; ``fewshot_delimiter="\\n\\n"``)::

    Problem:\\n<problem_1>\\n\\nSolution: <solution_1, ending "Final Answer: The final answer is $a$. I hope it is correct.">\\n\\n
    …  (num_fewshot of the four)
    Problem:\\n<problem>\\n\\nSolution:

Generation (the yaml's ``generation_kwargs``): stop at ``"Problem:"``, greedy; lm-eval's
``max_gen_toks`` is its default, 256 (here the generation track's ``max_new_tokens``).

Scoring: the text is cut at the stop sequences, then

- ``answer_equivalent`` (primary): the extracted answer (:func:`extract_answer`) against the
  reference ``answer``, by math-verify: ``verify(parse(gold), parse(prediction))``, gold first
  as math-verify documents; both wrapped in ``$…$`` (:func:`math_text`), since math-verify
  reads LaTeX only inside math delimiters.
- ``math_verify``: lm-eval's metric of the same name, unchanged: ``verify(gold=parse(solution),
  target=parse(text))`` on the full reference solution and the full (cut) text.

Differences from lm-eval, and why:

1. lm-eval's ``exact_match`` (Minerva's ``normalize_final_answer``, then equality by sympy's
   ``parse_latex``) is not computed; the primary metric has its own name so that nobody reads
   it as lm-eval's. math-verify is the
   equivalence lm-eval itself added for MATH (its ``math_verify`` metric, yaml v2.0), but
   lm-eval applies it to whole texts, where it may read a number from the reasoning when the
   answer is missing; here it compares the extracted answer only. sympy's ``parse_latex``
   also needs antlr4 4.11 exactly, which math-verify does not require.
2. Extraction: lm-eval reads only the line ``Final Answer: The final answer is … I hope it is
   correct.`` (``get_unnormalized_answer``). Without that line, the last ``\\boxed{…}`` of the
   text is the answer (lm-eval's ``last_boxed_only_string`` / ``remove_boxed``, which it uses
   on the reference solutions): a model that boxes its answer and skips the closing sentence
   is scored on its answer, not its format. The answer is not Minerva-normalised
   (math-verify normalises units, ``\\text``, ``\\dfrac``, ``\\!`` … itself).
3. The reference is the dataset's ``answer`` field, not normalised; lm-eval takes the content
   of the solution's last ``\\boxed{}``, which is that same string in all 500 rows (tested), and
   Minerva-normalises it.
4. ``num_fewshot`` is 0–4 (lm-eval's ``first_n`` sampler over its four fixed examples).

math-verify runs on the antlr4 4.11 LaTeX parser, as lm-eval's ``math`` extra installs it
(``math_verify[antlr4_11_0]``, ``antlr4-python3-runtime==4.11``): the same verdicts as lm-eval's
``math_verify`` metric, and lm-eval's own ``exact_match`` (sympy's ``parse_latex``) can run
beside it. (Its verdicts depend on the parser: on 4.13.2, ``50\\%`` also equals ``0.5``.)

Data: the hub dataset ``HuggingFaceH4/MATH-500`` (split ``test``), or with
``$BENCH_DATA_DIR`` set, ``$BENCH_DATA_DIR/math500/test.jsonl`` through the same
``datasets.load_dataset`` call (the PRM800K file, same rows and fields).

math-verify times its parsing and comparisons out with ``signal.alarm``: score in the main thread.
"""

from __future__ import annotations

import dataclasses
import decimal
import re
from typing import Any, ClassVar

from entropy_bench.methods.registry import require
from entropy_bench.tasks.base import TASKS, TextTask, hub_or_local, load_dataset_rows, truncate_at_stop

HUB_PATH = "HuggingFaceH4/MATH-500"
HUB_CONFIG = "default"
SPLITS = ("test",)
FIELDS = ("problem", "solution", "answer", "subject", "level", "unique_id")
TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"
STOP = ("Problem:",)  # the yaml's generation_kwargs.until
NO_ANSWER = "[invalidanswer]"  # lm-eval's INVALID_ANSWER
FINAL_ANSWER = r"Final Answer: The final answer is(.*?). I hope it is correct."
END_SEQUENCE = "I hope it is correct."
ROUND_TO = decimal.Decimal("1e-6")  # math-verify's default float_rounding (6 decimals)

FEWSHOT = (  # lm-eval's ``list_fewshot_samples()`` (its ``few_shot`` flag dropped), in order
    {
        "problem": (
            "Find the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$."
        ),
        "solution": (
            "The expressions inside each square root must be non-negative. Therefore, "
            "$x-2 \\ge 0$, so $x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$. Also, the denominator "
            "cannot be equal to zero, so $5-x>0$, which gives $x<5$. Therefore, the "
            "domain of the expression is $\\boxed{[2,5)}$.\n"
            "Final Answer: The final answer is $[2,5)$. I hope it is correct."
        ),
    },
    {
        "problem": (
            "If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} "
            "\\mathbf{B}).$"
        ),
        "solution": (
            "We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) "
            "= (2)(12) = \\boxed{24}.$\n"
            "Final Answer: The final answer is $24$. I hope it is correct."
        ),
    },
    {
        "problem": (
            "Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound "
            "weights instead, how many times must Terrell lift them in order to lift "
            "the same total weight?"
        ),
        "solution": (
            "If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot "
            "12\\cdot20=480$ pounds of weight.  If he lifts two 15-pound weights instead "
            "for $n$ times, he will lift a total of $2\\cdot15\\cdot n=30n$ pounds of "
            "weight.  Equating this to 480 pounds, we can solve for $n$:\n"
            "\\begin{align*}\n"
            "30n&=480\\\\\n"
            "\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n"
            "\\end{align*}\n"
            "Final Answer: The final answer is $16$. I hope it is correct."
        ),
    },
    {
        "problem": (
            "If the system of equations\n"
            "\n"
            "\\begin{align*}\n"
            "6x-4y&=a,\\\\\n"
            "6y-9x &=b.\n"
            "\\end{align*}has a solution $(x, y)$ where $x$ and $y$ are both nonzero,\n"
            "find $\\frac{a}{b},$ assuming $b$ is nonzero."
        ),
        "solution": (
            "If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n"
            "\n"
            "$$6y-9x=-\\frac{3}{2}a.$$Since we also know that $6y-9x=b$, we have\n"
            "\n"
            "$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\n"
            "Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct."
        ),
    },
)


def dataset_arguments(split: str) -> dict[str, Any]:
    """Arguments of ``datasets.load_dataset`` for ``split``: the hub (``HuggingFaceH4/MATH-500``,
    config ``default``) by default; with ``$BENCH_DATA_DIR`` set, the ``json`` builder on
    ``$BENCH_DATA_DIR/math500/<split>.jsonl``."""
    return hub_or_local(HUB_PATH, HUB_CONFIG, "math500", split)


def load_rows(split: str) -> list[dict[str, Any]]:
    """All rows of ``split`` with the fields :data:`FIELDS`, in dataset order."""
    return load_dataset_rows(dataset_arguments(split), FIELDS)


def doc_to_text(doc: dict[str, Any]) -> str:
    return "Problem:" + "\n" + doc["problem"] + "\n\n" + "Solution:"


def get_unnormalized_answer(text: str) -> str:
    """lm-eval's: what lies between ``Final Answer: The final answer is`` and the first
    following ``. I hope it is correct.`` (``"I hope it is correct."`` is appended to the text
    first, so a cut-off last sentence still counts), stripped; ``NO_ANSWER`` without it."""
    match = re.search(FINAL_ANSWER, text + END_SEQUENCE)
    return match.group(1).strip() if match else NO_ANSWER


def last_boxed_only_string(text: str) -> str | None:
    """lm-eval's: ``"\\boxed " +`` the text after the last ``"\\boxed "`` up to a ``$`` if there
    is one; else the last ``\\boxed`` (or, without any, ``\\fbox``) through the ``}`` that
    closes the first ``{`` after it; ``None`` if there is none or it never closes."""
    if "\\boxed " in text:
        return "\\boxed " + text.split("\\boxed ")[-1].split("$")[0]
    start = text.rfind("\\boxed")
    start = start if start >= 0 else text.rfind("\\fbox")
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(text)):
        depth += (text[i] == "{") - (text[i] == "}")
        if text[i] == "}" and depth == 0:
            return text[start : i + 1]
    return None


def remove_boxed(boxed: str) -> str:
    """lm-eval's: the content of ``\\boxed{…}`` or the text after ``"\\boxed "``."""
    return boxed[len("\\boxed ") :] if boxed.startswith("\\boxed ") else boxed[len("\\boxed{") : -1]


def extract_answer(text: str) -> str:
    """The final-answer line's answer (lm-eval's), else the last ``\\boxed{}``'s content, else
    ``NO_ANSWER``. A ``\\fbox`` or a ``\\boxed`` not followed by ``{`` or a space is no answer
    (lm-eval's ``remove_boxed`` asserts on those)."""
    answer = get_unnormalized_answer(text)
    if answer != NO_ANSWER:
        return answer
    boxed = last_boxed_only_string(text)
    if boxed is None or not boxed.startswith(("\\boxed{", "\\boxed ")):
        return NO_ANSWER
    return remove_boxed(boxed)


def math_text(answer: str) -> str:
    """``answer`` as math-verify reads it: its unescaped ``$`` removed, inside one ``$…$``."""
    return "$" + re.sub(r"(?<!\\)\$", "", answer).strip() + "$"


def parse_answer(answer: str) -> list:
    """math-verify's ``parse`` of :func:`math_text`: ``[sympy object, its string]``, ``[string]``
    when only the text was found, or ``[]``."""
    from math_verify import parse

    return parse(math_text(answer))


def answers_equal(reference: str, prediction: str) -> bool:
    """math-verify's verdict on two answers (``reference`` is the gold)."""
    from math_verify import verify

    return verify(gold=parse_answer(reference), target=parse_answer(prediction))


def canonical(value: Any) -> str:
    """A string that names ``value`` (a math-verify parse) up to the equalities math-verify
    accepts that are a matter of form: ``x = v`` is ``v``; a finite real number is its value
    rounded to 6 decimals (``\\frac{1}{2}``, ``0.5`` and ``\\frac{2}{4}`` are ``0.5``;
    ``\\sqrt{8}`` and ``2\\sqrt{2}`` are ``2.828427``); a set lists its elements sorted; tuples,
    intervals and matrices go element by element; other expressions print as sympy prints them
    (``(x+2)(x+5)`` and ``x^2+7x+10`` stay apart); strings are lower-cased."""
    import sympy

    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, sympy.MatrixBase):
        return "Matrix(" + ";".join(",".join(canonical(x) for x in row) for row in value.tolist()) + ")"
    if isinstance(value, sympy.Eq) and value.lhs.is_Symbol:
        return canonical(value.rhs)
    if isinstance(value, sympy.Expr) and value.is_number and value.is_real and value.is_finite:
        return real_number(value)
    if isinstance(value, sympy.Expr) or not value.args:
        return str(value)
    parts = [canonical(a) for a in value.args]
    return f"{type(value).__name__}({','.join(sorted(parts) if isinstance(value, sympy.FiniteSet) else parts)})"


def real_number(value: Any) -> str:
    """A finite real sympy number rounded to 6 decimals, without trailing zeros (``-0`` is
    ``0``); beyond 10**40 (too long to round exactly), its 15 significant digits."""
    import sympy

    number = sympy.N(value, 60)
    if abs(number) >= 10**40:
        return str(sympy.N(value, 15))
    with decimal.localcontext() as context:
        context.prec = 100
        rounded = decimal.Decimal(str(number)).quantize(ROUND_TO) + 0
        return format(rounded.normalize(), "f")


@TASKS.register(
    "math500",
    paper="Hendrycks et al. (2021), Measuring Mathematical Problem Solving With the MATH Dataset; "
    "the 500-problem test subset of Lightman et al. (2023), Let's Verify Step by Step",
    url="https://arxiv.org/abs/2103.03874",
)
@dataclasses.dataclass(frozen=True)
class MATH500(TextTask):
    """Competition mathematics (MATH-500), lm-eval ``minerva_math500`` prompt and extraction,
    answers compared with math-verify (``answer_equivalent``) and lm-eval's ``math_verify`` metric.

    Examples carry ``subject`` and ``level`` (1–5) for per-subject and per-level metrics.
    """

    version = "1"
    primary_metric = "answer_equivalent"
    stop = STOP
    splits = SPLITS
    question_field = "problem"
    no_answer: ClassVar[str | None] = NO_ANSWER

    num_fewshot: int = 4

    def __post_init__(self):
        require(
            isinstance(self.num_fewshot, int)
            and not isinstance(self.num_fewshot, bool)
            and 0 <= self.num_fewshot <= len(FEWSHOT),
            self.name,
            "num_fewshot",
            f"must be an integer from 0 to {len(FEWSHOT)} (lm-eval's fixed examples), got {self.num_fewshot!r}",
        )

    def load(self, split: str = "test", limit: int | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` rows of ``split``, each with ``id``, ``problem``, ``solution``,
        ``target`` (the reference answer), ``subject``, ``level`` and ``unique_id``."""
        self.check_load(split, limit)
        return [
            {
                "id": f"math500/{split}/{i}",
                "problem": row["problem"],
                "solution": row["solution"],
                "target": row["answer"],
                "subject": row["subject"],
                "level": row["level"],
                "unique_id": row["unique_id"],
            }
            for i, row in enumerate(load_rows(split)[:limit])
        ]

    def prompt(self, example: dict[str, Any]) -> str:
        shots = "".join(
            doc_to_text(s) + TARGET_DELIMITER + s["solution"] + FEWSHOT_DELIMITER
            for s in FEWSHOT[: self.num_fewshot]
        )
        return shots + doc_to_text(example)

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        from math_verify import parse, verify

        text = truncate_at_stop(text, self.stop)
        answer = extract_answer(text)
        return {
            "answer_equivalent": float(answer != NO_ANSWER and answers_equal(example["target"], answer)),
            "math_verify": float(verify(gold=parse(example["solution"]), target=parse(text))),
        }

    def extract(self, text: str) -> str:
        return extract_answer(truncate_at_stop(text, self.stop))

    def groups(self, example: dict[str, Any]) -> dict[str, str]:
        """Per subject (7) and per level (1–5), as MATH reports its results."""
        return {"subject": example["subject"], "level": str(example["level"])}

    def answer(self, text: str) -> str | None:
        """The extracted answer as :func:`canonical` names its math-verify parse (the answer
        text, stripped, where math-verify finds nothing; ``None`` for no answer or an empty
        one), ``\\%`` dropped first: ``50\\%`` and ``50``, which math-verify deems equal, name
        one answer."""
        extracted = self.extract(text).strip()
        if extracted in (NO_ANSWER, ""):
            return None
        parsed = parse_answer(extracted.replace("\\%", ""))
        return canonical(parsed[0]) if parsed else extracted
