"""GSM8K, formatted and scored exactly as lm-evaluation-harness's ``gsm8k`` task (yaml v3.0).

Prompt (lm-eval ``doc_to_text`` / ``doc_to_target``, ``target_delimiter=" "``,
``fewshot_delimiter="\\n\\n"``)::

    Question: <q_1>\\nAnswer: <full answer_1, reasoning and "#### n">\\n\\n
    …  (num_fewshot train rows)
    Question: <q>\\nAnswer:

Scoring: the model's text is cut at the stop sequences, then two lm-eval filters extract an
answer — **strict-match**, the first ``#### (\\-?[0-9\\.\\,]+)`` group, and **flexible-extract**,
the last match of ``(-?[$0-9.,]{2,})|(-?[0-9]+)`` — each falling back to ``"[invalid]"``.
Both the extraction and the reference (the full answer) are normalised as the yaml's
``exact_match`` metric does (drop ``,``, ``$``, everything up to ``"#### "`` and a trailing
``.``; lower-case) and compared for equality.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any, ClassVar

from entropy_bench.methods.registry import require
from entropy_bench.tasks.base import TASKS, TextTask, hub_or_local, load_dataset_rows, truncate_at_stop

HUB_PATH = "openai/gsm8k"
HUB_CONFIG = "main"
FIELDS = ("question", "answer")
FEWSHOT_SPLIT = "train"
FEWSHOT_SEED = 1234  # lm-eval's default ``fewshot_random_seed`` (lm_eval.defaults.DEFAULT_OTHER_SEED)
TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"
STOP = ("Question:", "</s>", "<|im_end|>")  # the yaml's generation_kwargs.until

STRICT_PATTERN = r"#### (\-?[0-9\.\,]+)"
FLEXIBLE_PATTERN = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
FALLBACK = "[invalid]"
REGEXES_TO_IGNORE = (",", r"\$", r"(?s).*#### ", r"\.$")


def dataset_arguments(split: str) -> dict[str, Any]:
    """Arguments of ``datasets.load_dataset`` for ``split``.

    The hub (``openai/gsm8k``, config ``main``) by default; with ``$BENCH_DATA_DIR`` set, the
    ``json`` builder on ``$BENCH_DATA_DIR/gsm8k/<split>.jsonl`` (same rows and fields).
    """
    return hub_or_local(HUB_PATH, HUB_CONFIG, "gsm8k", split)


def load_rows(split: str) -> list[dict[str, str]]:
    """All rows of ``split`` as ``{"question", "answer"}`` dicts, in dataset order."""
    return load_dataset_rows(dataset_arguments(split), FIELDS)


def fewshot_indices(
    docs: list[dict[str, str]], pool: list[dict[str, str]], num_fewshot: int, same_split: bool
) -> list[list[int]]:
    """Indices into ``pool`` of each doc's few-shot rows, as lm-eval's default sampler picks them.

    lm-eval (``ContextSampler`` with ``fewshot_random_seed=1234``) keeps one
    ``random.Random(1234)`` for the whole run and, for the docs in order, draws
    ``rnd.sample(pool, num_fewshot)``; when the few-shot split is the evaluated split it draws
    ``num_fewshot + 1``, drops rows equal to the doc and keeps the first ``num_fewshot``
    (re-drawing from the pool without the doc if too few remain). ``Random.sample`` depends only
    on the pool's length, so drawing indices replays the same choice. Doc ``i`` therefore gets
    the ``i``-th draw — the prompts match a single-process lm-eval run over the same docs in
    the same order (``--limit`` keeps the order, so it matches too).
    """
    rnd = random.Random(FEWSHOT_SEED)
    out: list[list[int]] = []
    for doc in docs:
        if num_fewshot == 0:
            out.append([])
            continue
        if not same_split:
            out.append(rnd.sample(range(len(pool)), num_fewshot))
            continue
        drawn = [j for j in rnd.sample(range(len(pool)), num_fewshot + 1) if pool[j] != doc][:num_fewshot]
        if len(drawn) < num_fewshot:
            drawn = rnd.sample([j for j in range(len(pool)) if pool[j] != doc], num_fewshot)
        out.append(drawn)
    return out


def doc_to_text(doc: dict[str, Any]) -> str:
    return f"Question: {doc['question']}\nAnswer:"


def regex_extract(text: str, pattern: str, group_select: int = 0) -> str:
    """lm-eval's ``RegexFilter``: the ``group_select``-th match (its first non-empty group), stripped."""
    matches = re.findall(pattern, text)
    if not matches:
        return FALLBACK
    match = matches[group_select]
    if isinstance(match, tuple):
        match = next((m for m in match if m), FALLBACK)
    return match.strip()


def extract_strict(text: str) -> str:
    return regex_extract(text, STRICT_PATTERN)


def extract_flexible(text: str) -> str:
    return regex_extract(text, FLEXIBLE_PATTERN, group_select=-1)


def normalize(text: str) -> str:
    """lm-eval's ``exact_match`` options for gsm8k: ``regexes_to_ignore`` in order, ``ignore_case``."""
    for pattern in REGEXES_TO_IGNORE:
        text = re.sub(pattern, "", text)
    return text.lower()


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


@TASKS.register(
    "gsm8k",
    paper="Cobbe et al. (2021), Training Verifiers to Solve Math Word Problems",
    url="https://arxiv.org/abs/2110.14168",
)
@dataclasses.dataclass(frozen=True)
class GSM8K(TextTask):
    """Grade-school math word problems, lm-eval ``gsm8k`` prompt and strict/flexible extraction.

    Few-shot rows come from the train split, chosen by replaying lm-eval's default sampler
    with its seed 1234 (:func:`fewshot_indices`): the ``i``-th loaded doc gets the ``i``-th
    draw, so prompts equal lm-eval's for the same docs in the same order. They are stored in
    the example (``example["fewshot"]``) at load time; :meth:`prompt` only formats.

    ``primary_metric`` is ``exact_match_flexible`` (the last number in the text): small
    models rarely end with lm-eval's ``#### n`` format, so strict-match would score format,
    not correctness. Both are returned.
    """

    version = "1"
    primary_metric = "exact_match_flexible"
    stop = STOP
    question_field = "question"

    num_fewshot: int = 5

    def __post_init__(self):
        require(
            isinstance(self.num_fewshot, int)
            and not isinstance(self.num_fewshot, bool)
            and self.num_fewshot >= 0,
            self.name,
            "num_fewshot",
            f"must be an integer >= 0, got {self.num_fewshot!r}",
        )

    def load(self, split: str = "test", limit: int | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` rows of ``split``, each with ``id``, ``question``, ``answer``
        (full reference solution), ``target`` (the number after ``####``) and ``fewshot``."""
        self.check_load(split, limit)
        docs = load_rows(split)[:limit]
        pool = load_rows(FEWSHOT_SPLIT) if self.num_fewshot else []
        chosen = fewshot_indices(docs, pool, self.num_fewshot, same_split=split == FEWSHOT_SPLIT)
        return [
            {
                "id": f"gsm8k/{split}/{i}",
                "question": doc["question"],
                "answer": doc["answer"],
                "target": doc["answer"].split("#### ")[-1].strip(),
                "fewshot": [{"id": f"gsm8k/{FEWSHOT_SPLIT}/{j}", **pool[j]} for j in shots],
            }
            for i, (doc, shots) in enumerate(zip(docs, chosen))
        ]

    def prompt(self, example: dict[str, Any]) -> str:
        shots = "".join(
            doc_to_text(s) + TARGET_DELIMITER + s["answer"] + FEWSHOT_DELIMITER for s in example["fewshot"]
        )
        return shots + doc_to_text(example)

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        text = truncate_at_stop(text, self.stop)
        return {
            "exact_match_strict": exact_match(extract_strict(text), example["answer"]),
            "exact_match_flexible": exact_match(extract_flexible(text), example["answer"]),
        }

    no_answer: ClassVar[str | None] = FALLBACK

    def extract(self, text: str) -> str:
        """The flexible-extract answer (the primary metric's)."""
        return extract_flexible(truncate_at_stop(text, self.stop))

    def answer(self, text: str) -> str | None:
        """The flexible-extract answer normalised as ``exact_match`` compares it."""
        extracted = self.extract(text)
        return None if extracted == FALLBACK else normalize(extracted)
