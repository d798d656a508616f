"""GSM-Symbolic problems generated offline by reasoning-gym, prompted and scored as our GSM8K.

The problems are reasoning-gym's ``gsm_symbolic`` dataset (version 0.1.25), its own
re-implementation of GSM-Symbolic (Apple's templates are not used): 85 generators, each a
template of a GSM8K question instantiated with random names and numbers (its list
``tasks_ok``; 15 more are marked broken and never drawn). Entry ``i`` of a
reasoning-gym dataset with seed ``s`` uses template ``task_indices[i]`` (from
``Random(s).choices(tasks_ok, k=size)``, whose first ``n`` are the same for every ``size``
``>= n``) and the generator ``Random(s + i)``.

Seeds: task seed ``seed`` and stream ``t`` (0: questions, 1: few-shot solutions) read the
reasoning-gym dataset with seed ``(2 * seed + t) * 2**32`` (:func:`rg_seed`). Since entry ``i``
is drawn from ``Random(s + i)``, every (seed, stream) then owns its own ``2**32`` generator
seeds: questions and shots never share one, nor do two task seeds (with reasoning-gym's seeds
used directly, seed 1's question ``i`` would be drawn from the generator of seed 0's question
``i + 1``). ``seed`` must be ``>= 0``: ``Random(-x)`` equals ``Random(x)``.

Example (``load``): ``id`` (``gsm_symbolic/<seed>/<i>``), ``question``, ``answer`` (the worked
solution, ending ``#### <target>``), ``target`` (reasoning-gym's answer), ``template`` and
``fewshot`` (solved shots, the same fields). Two changes to reasoning-gym's text:

- its question ends with the instruction ``" Give the result as your final answer. Do not
  include units."`` (:data:`INSTRUCTION`), which is dropped: GSM-Symbolic and GSM8K questions
  have none, and the few-shot solutions already show the answer format;
- its solution's last line, ``#### <number>``, is rewritten to ``#### <target>``: four
  templates write it as a float (``#### 8.0`` for the answer ``8``), which GSM8K's
  exact match, a string comparison, would count as a different answer.

Prompt, stop sequences, extraction and ``exact_match_strict`` / ``exact_match_flexible``: those of
:class:`~entropy_bench.tasks.gsm8k.GSM8K` (lm-eval's ``gsm8k``), with reference ``answer``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from typing import Any

from entropy_bench.methods.registry import require
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.gsm8k import GSM8K

DATASET = "gsm_symbolic"  # reasoning-gym's name
SPLITS = ("test",)
INSTRUCTION = " Give the result as your final answer. Do not include units."
STREAM_SEEDS = 2**32  # generator seeds owned by each (seed, stream)
QUESTIONS, SHOTS = 0, 1  # the streams


def rg_seed(seed: int, stream: int) -> int:
    """The reasoning-gym seed of ``stream`` of task seed ``seed``: ``(2 * seed + stream) * 2**32``."""
    return (2 * seed + stream) * STREAM_SEEDS


def rg_dataset(seed: int, size: int) -> Any:
    """reasoning-gym's ``gsm_symbolic`` dataset with ``seed`` and ``size`` entries (``size >= 1``)."""
    import reasoning_gym  # imports all of reasoning-gym (matplotlib included): only when used

    return reasoning_gym.create_dataset(DATASET, seed=seed, size=size)


def templates(seed: int) -> Iterator[int]:
    """The templates of reasoning-gym's dataset with ``seed``, entry by entry, without end."""
    done, size = 0, 64
    while True:
        yield from rg_dataset(seed, size).task_indices[done:]
        done, size = size, 2 * size


def shot_indices(question_templates: list[int], num_fewshot: int, seed: int) -> list[list[int]]:
    """For each question in order, the next ``num_fewshot`` entries of the dataset with ``seed``
    whose template differs from the question's (a shot of the same template would show its
    solution); entries passed over are not used later."""
    stream = enumerate(templates(seed))
    return [
        list(itertools.islice((j for j, t in stream if t != template), num_fewshot))
        for template in question_templates
    ]


def solution(entry: dict[str, Any]) -> str:
    """The entry's worked solution with its last line ``#### <entry["answer"]>``."""
    return entry["metadata"]["answer_cot"].rsplit("#### ", 1)[0] + "#### " + entry["answer"]


def as_example(entry: dict[str, Any], template: int, example_id: str) -> dict[str, Any]:
    """A reasoning-gym entry as a JSON-able example (its metadata, which holds ``Fraction``
    values and is not read by ``score_answer``, is left out)."""
    return {
        "id": example_id,
        "question": entry["question"].removesuffix(INSTRUCTION),
        "answer": solution(entry),
        "target": entry["answer"],
        "template": template,
    }


def rg_score(answer: str, target: str) -> float:
    """reasoning-gym's ``score_answer`` of ``answer`` for an entry with answer ``target``: 1.0
    when the first number it finds (``\\b-?\\d+(?:\\.\\d+)?\\b``) equals it as a float, 0.01 for
    another number, 0.0 for none. Its ``\\b`` drops a leading minus (``"-3"`` reads as 3, so a
    negative target never scores 1) and it stops at a comma (``"1,500"`` reads as 1)."""
    return rg_dataset(0, 1).score_answer(answer=answer, entry={"answer": target})


@TASKS.register(
    "gsm_symbolic",
    paper="Mirzadeh et al. (2024), GSM-Symbolic: Understanding the Limitations of Mathematical "
    "Reasoning in Large Language Models; generators of Stojanovski et al. (2025), Reasoning Gym: "
    "Reasoning Environments for Reinforcement Learning with Verifiable Rewards (arXiv 2505.24760)",
    url="https://arxiv.org/abs/2410.05229",
)
@dataclasses.dataclass(frozen=True)
class GSMSymbolic(GSM8K):
    """GSM-Symbolic problems (reasoning-gym's generators), GSM8K's prompt and scoring.

    ``n_examples`` problems from ``seed``; ``load(limit=k)`` gives the first ``k`` of them
    (the same for every ``n_examples``). Each question has its own ``num_fewshot`` solved
    shots from the shot stream, none of its template (:func:`shot_indices`), as lm-eval draws
    other GSM8K train rows for each question. There is no difficulty parameter: reasoning-gym's
    config has a ``difficulty`` field but accepts only 1.0. One split, ``test``.

    ``score`` adds to GSM8K's metrics ``rg_score``, reasoning-gym's own verdict
    (:func:`rg_score`) on the flexible-extract answer: 1, 0.01 (a wrong number) or 0.
    """

    version = "1"
    splits = SPLITS

    seed: int = 0
    n_examples: int = 1000

    def __post_init__(self):
        super().__post_init__()
        for field, low in (("seed", 0), ("n_examples", 1)):
            value = getattr(self, field)
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
            require(ok, self.name, field, f"must be an integer >= {low}, got {value!r}")

    def load(self, split: str = "test", limit: int | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` of the ``n_examples`` problems, each with its shots."""
        self.check_load(split, limit)
        count = self.n_examples if limit is None else min(limit, self.n_examples)
        if count == 0:
            return []
        questions = rg_dataset(rg_seed(self.seed, QUESTIONS), count)
        chosen = shot_indices(questions.task_indices, self.num_fewshot, rg_seed(self.seed, SHOTS))
        shots = rg_dataset(rg_seed(self.seed, SHOTS), max((j for js in chosen for j in js), default=0) + 1)
        return [
            {
                **as_example(questions[i], questions.task_indices[i], f"{DATASET}/{self.seed}/{i}"),
                "fewshot": [
                    as_example(shots[j], shots.task_indices[j], f"{DATASET}/{self.seed}/fewshot/{j}")
                    for j in js
                ],
            }
            for i, js in enumerate(chosen)
        ]

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        return {**super().score(example, text), "rg_score": rg_score(self.extract(text), example["target"])}
