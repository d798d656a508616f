"""LongBench v1 (Bai et al., 2023), one of its 21 datasets per task, prompted, fitted to the
model's window and scored as THUDM/LongBench's own code does: ``LongBench/pred.py``,
``LongBench/eval.py``, ``LongBench/metrics.py`` and ``LongBench/config/{dataset2prompt,
dataset2maxlen}.json`` at commit ``2e00731f8d0bff23dc4325161044d0ed8af94c1e`` (the metrics in
:mod:`entropy_bench.tasks.longbench_metrics`).

Prompt (``pred.py``): the dataset's template (:data:`PROMPTS`, ``dataset2prompt.json``) with
``str.format(**example)``, i.e. ``{context}`` and ``{input}`` filled in. ``pred.py`` wraps it
in a chat format only for the chat models it names (``build_chat``); for any other model, as
here, the model reads the template as is (no chat template).

Fitting (:meth:`LongBench.fit`, ``pred.py``'s middle truncation): the prompt is tokenized
whole (``tokenizer(prompt, truncation=False)``, the tokenizer's special tokens included); if
it is longer than the ``max_tokens`` the model's window leaves (window − max_new_tokens; in
``pred.py`` the model's ``model2maxlen``), it becomes
``decode(ids[:half]) + decode(ids[-half:])`` with ``half = max_tokens // 2`` and
``skip_special_tokens=True``: the instructions at both ends survive, the middle of the
context goes.

Generation: ``max_new_tokens`` is the dataset's ``dataset2maxlen.json`` value
(:data:`MAX_NEW_TOKENS`); ``pred.py`` decodes greedily (here: the sweep's decoder). samsum
adds the token of ``"\\n"`` to the EOS ids, modelled as the stop string ``"\\n"``.

Scoring (``eval.py``'s ``scorer``): the dataset's metric (``qa_f1_score``, ``rouge_score``,
``classification_score``, …) of the prediction — its first line for trec, triviaqa, samsum
and lsht — against each answer, the maximum kept, under the metric's name. ``correct``, the
primary metric, is ours: 1.0 if that score is at least 0.5, else 0.0 — LongBench reports only
the mean score, but AUROC of an uncertainty measure needs a binary correctness.

Groups: ``length`` is the example's LongBench-E interval (``"0-4k"``, ``"4-8k"``, ``"8k+"``
of its ``length`` field, words or Chinese characters), as ``eval.py``'s ``scorer_e`` buckets.

Differences from LongBench, and why:

1. samsum: ``pred.py`` also passes ``min_length=context_length+1``, so its first token can be
   neither EOS nor ``"\\n"``; a task cannot forbid tokens, so here a generation that starts
   with ``"\\n"`` stops there, empty, where LongBench's would go on.
2. ``half = max_tokens // 2`` (``pred.py``: ``int(max_tokens/2)``, equal below 2**53), and
   the tail is ``ids[len(ids) - half:]``: for ``max_tokens`` < 2 ``pred.py``'s ``ids[-0:]``
   would keep the whole prompt, here nothing is kept.
3. The metrics' own choices (ROUGE-L recomputed where ``rouge`` hits Python's recursion limit,
   fuzzywuzzy's pure-Python ratio): see :mod:`entropy_bench.tasks.longbench_metrics`.
4. Each example is scored with its own ``all_classes``; ``eval.py`` uses the last row's for
   the whole file (the same list in every row of trec and lsht).

Data: ``data/<dataset>.jsonl`` of the hub's ``data.zip`` (``zai-org/LongBench``, the former
``THUDM/LongBench``, at revision :data:`HUB_REVISION`), read through ``datasets``' ``json``
builder as the chained URL ``zip://data/<dataset>.jsonl::hf://datasets/…/data.zip``. The hub
repo's ``load_dataset("THUDM/LongBench", dataset)`` runs a loading script (``LongBench.py``),
which ``datasets`` ≥ 4 refuses; ``data.zip`` is the archive that script reads (its ``_URL``,
as in its copy ``LongBench/retrieval/LongBench.py``) and the download LongBench's README
offers. The revision is the one whose ``data.zip`` our shared rows were read from
(``shared/data/SOURCES.md``). With ``$BENCH_DATA_DIR`` set, the same ``json`` builder reads
``$BENCH_DATA_DIR/longbench/<dataset>.jsonl`` (the same rows and fields).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from entropy_bench.methods.registry import require_choice
from entropy_bench.tasks.base import TASKS, TextTask, data_dir, load_dataset_rows
from entropy_bench.tasks.longbench_metrics import (
    DATASETS,
    first_code_line,
    length_bucket,
    metric_name,
    prepare_prediction,
    score_prediction,
)

HUB_REPO = "zai-org/LongBench"
HUB_REVISION = "5e628be450b7e67fb7ae6e201bd6d8f7056f7672"
HUB_ARCHIVE = f"hf://datasets/{HUB_REPO}@{HUB_REVISION}/data.zip"
LOCAL_DIR = "longbench"
SPLITS = ("test",)
FIELDS = ("input", "context", "answers", "length", "all_classes", "_id")
OPTIONAL_FIELDS = ("all_classes",)  # null outside trec and lsht
CODE_DATASETS = ("lcc", "repobench-p")
SAMSUM_STOP = ("\n",)
CORRECT_AT = 0.5  # ``correct`` = score >= 0.5 (ours)

PROMPTS = {  # config/dataset2prompt.json
    "narrativeqa": (
        "You are given a story, which can be either a novel or a movie script, and a question. "
        "Answer the question asconcisely as you can, using a single phrase if possible. Do not "
        "provide any explanation.\n\n"
        "Story: {context}\n\n"
        "Now, answer the question based on the story asconcisely as you can, using a single "
        "phrase if possible. Do not provide any explanation.\n\n"
        "Question: {input}\n\n"
        "Answer:"
    ),
    "qasper": (
        "You are given a scientific article and a question. Answer the question as concisely as "
        "you can, using a single phrase or sentence if possible. If the question cannot be "
        "answered based on the information in the article, write \"unanswerable\". If the question "
        "is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide any "
        "explanation.\n\n"
        "Article: {context}\n\n"
        " Answer the question based on the above article as concisely as you can, using a single "
        "phrase or sentence if possible. If the question cannot be answered based on the "
        "information in the article, write \"unanswerable\". If the question is a yes/no question, "
        "answer \"yes\", \"no\", or \"unanswerable\". Do not provide any explanation.\n\n"
        "Question: {input}\n\n"
        "Answer:"
    ),
    "multifieldqa_en": (
        "Read the following text and answer briefly.\n\n"
        "{context}\n\n"
        "Now, answer the following question based on the above text, only give me the answer and "
        "do not output any other words.\n\n"
        "Question: {input}\n"
        "Answer:"
    ),
    "multifieldqa_zh": (
        "阅读以下文字并用中文简短回答：\n\n"
        "{context}\n\n"
        "现在请基于上面的文章回答下面的问题，只告诉我答案，不要输出任何其他字词。\n\n"
        "问题：{input}\n"
        "回答："
    ),
    "hotpotqa": (
        "Answer the question based on the given passages. Only give me the answer and do not "
        "output any other words.\n\n"
        "The following are given passages.\n"
        "{context}\n\n"
        "Answer the question based on the given passages. Only give me the answer and do not "
        "output any other words.\n\n"
        "Question: {input}\n"
        "Answer:"
    ),
    "2wikimqa": (
        "Answer the question based on the given passages. Only give me the answer and do not "
        "output any other words.\n\n"
        "The following are given passages.\n"
        "{context}\n\n"
        "Answer the question based on the given passages. Only give me the answer and do not "
        "output any other words.\n\n"
        "Question: {input}\n"
        "Answer:"
    ),
    "musique": (
        "Answer the question based on the given passages. Only give me the answer and do not "
        "output any other words.\n\n"
        "The following are given passages.\n"
        "{context}\n\n"
        "Answer the question based on the given passages. Only give me the answer and do not "
        "output any other words.\n\n"
        "Question: {input}\n"
        "Answer:"
    ),
    "dureader": (
        "请基于给定的文章回答下述问题。\n\n"
        "文章：{context}\n\n"
        "请基于上述文章回答下面的问题。\n\n"
        "问题：{input}\n"
        "回答："
    ),
    "gov_report": (
        "You are given a report by a government agency. Write a one-page summary of the report.\n\n"
        "Report:\n"
        "{context}\n\n"
        "Now, write a one-page summary of the report.\n\n"
        "Summary:"
    ),
    "qmsum": (
        "You are given a meeting transcript and a query containing a question or instruction. "
        "Answer the query in one or more sentences.\n\n"
        "Transcript:\n"
        "{context}\n\n"
        "Now, answer the query based on the above meeting transcript in one or more sentences.\n\n"
        "Query: {input}\n"
        "Answer:"
    ),
    "multi_news": (
        "You are given several news passages. Write a one-page summary of all news. \n\n"
        "News:\n"
        "{context}\n\n"
        "Now, write a one-page summary of all the news.\n\n"
        "Summary:"
    ),
    "vcsum": (
        "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n"
        "会议记录：\n"
        "{context}\n\n"
        "会议总结："
    ),
    "trec": (
        "Please determine the type of the question below. Here are some examples of questions.\n\n"
        "{context}\n"
        "{input}"
    ),
    "triviaqa": (
        "Answer the question based on the given passage. Only give me the answer and do not "
        "output any other words. The following are some examples.\n\n"
        "{context}\n\n"
        "{input}"
    ),
    "samsum": (
        "Summarize the dialogue into a few short sentences. The following are some examples.\n\n"
        "{context}\n\n"
        "{input}"
    ),
    "lsht": (
        "请判断给定新闻的类别，下面是一些例子。\n\n"
        "{context}\n"
        "{input}"
    ),
    "passage_count": (
        "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. "
        "Please carefully read these paragraphs and determine how many unique paragraphs there "
        "are after removing duplicates. In other words, how many non-repeating paragraphs are "
        "there in total?\n\n"
        "{context}\n\n"
        "Please enter the final count of unique paragraphs after removing duplicates. The output "
        "format should only contain the number, such as 1, 2, 3, and so on.\n\n"
        "The final answer is: "
    ),
    "passage_retrieval_en": (
        "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which "
        "paragraph the abstract is from.\n\n"
        "{context}\n\n"
        "The following is an abstract.\n\n"
        "{input}\n\n"
        "Please enter the number of the paragraph that the abstract is from. The answer format "
        "must be like \"Paragraph 1\", \"Paragraph 2\", etc.\n\n"
        "The answer is: "
    ),
    "passage_retrieval_zh": (
        "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n"
        "{context}\n\n"
        "下面是一个摘要\n\n"
        "{input}\n\n"
        "请输入摘要所属段落的编号。答案格式必须是\"段落1\"，\"段落2\"等格式\n\n"
        "答案是："
    ),
    "lcc": (
        "Please complete the code given below. \n"
        "{context}Next line of code:\n"
    ),
    "repobench-p": (
        "Please complete the code given below. \n"
        "{context}{input}Next line of code:\n"
    ),
}
MAX_NEW_TOKENS = {  # config/dataset2maxlen.json
    "narrativeqa": 128,
    "qasper": 128,
    "multifieldqa_en": 64,
    "multifieldqa_zh": 64,
    "hotpotqa": 32,
    "2wikimqa": 32,
    "musique": 32,
    "dureader": 128,
    "gov_report": 512,
    "qmsum": 512,
    "multi_news": 512,
    "vcsum": 512,
    "trec": 64,
    "triviaqa": 32,
    "samsum": 128,
    "lsht": 64,
    "passage_count": 32,
    "passage_retrieval_en": 32,
    "passage_retrieval_zh": 32,
    "lcc": 64,
    "repobench-p": 64,
}


def dataset_arguments(dataset: str) -> dict[str, Any]:
    """Arguments of ``datasets.load_dataset`` for ``dataset``: the ``json`` builder on the hub
    archive's member ``data/<dataset>.jsonl`` by default; with ``$BENCH_DATA_DIR`` set, on
    ``$BENCH_DATA_DIR/longbench/<dataset>.jsonl``."""
    root = data_dir()
    if root is None:
        path = f"zip://data/{dataset}.jsonl::{HUB_ARCHIVE}"
    else:
        path = str(root / LOCAL_DIR / f"{dataset}.jsonl")
    return {"path": "json", "data_files": {"test": path}, "split": "test"}


def load_rows(dataset: str) -> list[dict[str, Any]]:
    """All rows of ``dataset`` with the fields :data:`FIELDS`, in file order (``all_classes``
    may be null); errors as :func:`~entropy_bench.tasks.base.load_dataset_rows`."""
    return load_dataset_rows(dataset_arguments(dataset), FIELDS, optional=OPTIONAL_FIELDS)


@TASKS.register(
    "longbench",
    paper="Bai et al. (2023), LongBench: A Bilingual, Multitask Benchmark for Long Context Understanding",
    url="https://arxiv.org/abs/2308.14508",
)
@dataclasses.dataclass(frozen=True)
class LongBench(TextTask):
    """Long-context understanding (LongBench v1), one dataset: LongBench's prompt, middle
    truncation, generation length and metric; ``correct`` = metric ≥ 0.5.

    Examples carry ``length`` for per-length-interval metrics (``groups``: LongBench-E's buckets).
    """

    version = "1"
    primary_metric = "correct"
    splits = SPLITS

    dataset: str

    def __post_init__(self):
        require_choice(self.dataset, DATASETS, self.name, "dataset")

    @property
    def max_new_tokens(self) -> int:
        """LongBench's generation length for the dataset (``dataset2maxlen.json``)."""
        return MAX_NEW_TOKENS[self.dataset]

    @property
    def stop(self) -> tuple[str, ...]:
        return SAMSUM_STOP if self.dataset == "samsum" else ()

    @property
    def question_field(self) -> str | None:
        """``input`` (the question, query or test item) where the template has one."""
        return "input" if "{input}" in PROMPTS[self.dataset] else None

    @property
    def metric(self) -> str:
        """The name of the dataset's LongBench metric (``qa_f1_score``, ``rouge_score``, …)."""
        return metric_name(self.dataset)

    def load(self, split: str = "test", limit: int | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` rows, each with ``id`` (``longbench/<dataset>/<i>``), ``input``,
        ``context``, ``answers`` (a list), ``all_classes`` (a list, empty outside trec and
        lsht), ``length`` and LongBench's ``_id``."""
        self.check_load(split, limit)
        return [
            {
                "id": f"longbench/{self.dataset}/{i}",
                "input": row["input"],
                "context": row["context"],
                "answers": list(row["answers"]),
                "all_classes": list(row["all_classes"] or []),
                "length": row["length"],
                "_id": row["_id"],
            }
            for i, row in enumerate(load_rows(self.dataset)[:limit])
        ]

    def prompt(self, example: dict[str, Any]) -> str:
        return PROMPTS[self.dataset].format(**example)

    def fit(self, example: dict[str, Any], prompt: str, tokenizer: Any, max_tokens: int) -> str:
        """``prompt`` if its tokens fit in ``max_tokens``, else its first and last ``max_tokens
        // 2`` tokens, each half decoded without special tokens, concatenated."""
        ids = tokenizer(prompt, truncation=False)["input_ids"]
        if len(ids) <= max_tokens:
            return prompt
        half = max_tokens // 2
        head, tail = ids[:half], ids[len(ids) - half :]
        return tokenizer.decode(head, skip_special_tokens=True) + tokenizer.decode(tail, skip_special_tokens=True)

    def score(self, example: dict[str, Any], text: str) -> dict[str, float]:
        value = score_prediction(self.dataset, text, example["answers"], example["all_classes"])
        return {self.metric: value, "correct": float(value >= CORRECT_AT)}

    def extract(self, text: str) -> str:
        """The prediction the metric compares: the first line for trec, triviaqa, samsum and
        lsht; the first code line (no ``` ` ```, ``#``, ``//``) for lcc and repobench-p."""
        prediction = prepare_prediction(self.dataset, text)
        return first_code_line(prediction) if self.dataset in CODE_DATASETS else prediction

    def target(self, example: dict[str, Any]) -> str:
        return " | ".join(example["answers"])

    def groups(self, example: dict[str, Any]) -> dict[str, str]:
        return {"length": length_bucket(example["length"])}
