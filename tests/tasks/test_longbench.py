"""LongBench v1: the metrics on hand-computed examples and against their reference packages,
the prompts and generation lengths against the official config, middle truncation token by
token, loading (BENCH_DATA_DIR, a local archive standing in for the hub, clear errors) and
scoring gold answers of the shared rows.

References: the ``rouge`` package (ROUGE-L) and ``fuzzywuzzy`` (code similarity), when
installed, and lm-evaluation-harness's copy of LongBench's ``metrics.py``
(``lm_eval/tasks/longbench/metrics.py``), whose F1, ROUGE, retrieval, count and
classification functions are LongBench's unchanged (its ``code_sim_score`` is modified, so
that one is checked against fuzzywuzzy).
"""

from __future__ import annotations

import dataclasses
import json
import random
import zipfile
from pathlib import Path

import pytest

from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
from entropy_bench.tasks import longbench
from entropy_bench.tasks import longbench_metrics as lm
from entropy_bench.tasks.base import TASKS, DataFileError

SHARED = {"qasper": 3, "2wikimqa": 2, "passage_retrieval_en": 1, "multi_news": 21}  # rows in shared/data
TREC_CLASSES = ["Animal", "Location", "Other location", "Date"]


def row(i: int, **fields) -> dict:
    """An official-format LongBench row."""
    base = {"input": f"Question {i}?", "context": f"Context {i}.", "answers": [f"answer {i}"], "length": 100 * i,
            "dataset": "qasper", "language": "en", "all_classes": None, "_id": f"id{i}"}
    return {**base, **fields}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def build(dataset: str) -> longbench.LongBench:
    return TASKS.build("longbench", dataset=dataset)


def quiet_jieba():
    import jieba

    jieba.setLogLevel(30)
    return jieba


# -- registry and parameters -------------------------------------------------------------


def test_registry_entry_and_required_dataset():
    entry = TASKS.get("longbench")
    assert entry.factory is longbench.LongBench and "2308.14508" in entry.url
    assert entry.params == {"dataset": dataclasses.MISSING}
    assert build("qasper").id == "longbench(dataset=qasper)"
    with pytest.raises(InvalidParameterError, match="required"):
        TASKS.build("longbench")
    with pytest.raises(UnknownMethodError, match="did you mean 'longbench'"):
        TASKS.get("longbnech")


def test_unknown_dataset_suggests_the_closest_and_lists_all():
    with pytest.raises(InvalidParameterError, match="did you mean 'qasper'") as err:
        build("qaspr")
    assert err.value.field == "dataset" and all(d in str(err.value) for d in lm.DATASETS)
    with pytest.raises(InvalidParameterError, match="got 'qasper_e'; did you mean 'qasper'"):
        build("qasper_e")  # LongBench-E files are not v1 datasets


def test_the_21_datasets_each_have_a_template_a_length_and_a_metric():
    assert len(lm.DATASETS) == 21
    assert set(lm.DATASETS) == set(longbench.PROMPTS) == set(longbench.MAX_NEW_TOKENS)
    assert {d: lm.metric_name(d) for d in ("qasper", "multifieldqa_zh", "dureader", "gov_report", "trec",
                                           "passage_retrieval_zh", "passage_count", "lcc")} == {
        "qasper": "qa_f1_score", "multifieldqa_zh": "qa_f1_zh_score", "dureader": "rouge_zh_score",
        "gov_report": "rouge_score", "trec": "classification_score",
        "passage_retrieval_zh": "retrieval_zh_score", "passage_count": "count_score", "lcc": "code_sim_score"}


def test_templates_and_generation_lengths_equal_the_official_config(shared_data):
    config = shared_data / "longbench" / "config"
    prompts = json.loads((config / "dataset2prompt.json").read_text(encoding="utf-8"))
    lengths = json.loads((config / "dataset2maxlen.json").read_text(encoding="utf-8"))
    assert longbench.PROMPTS == prompts and list(longbench.PROMPTS) == list(prompts)
    assert longbench.MAX_NEW_TOKENS == lengths and list(longbench.MAX_NEW_TOKENS) == list(lengths)


# -- English QA F1 -------------------------------------------------------------------------


def test_normalize_answer_drops_case_punctuation_articles_and_extra_space():
    assert lm.normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert lm.normalize_answer("An apple, a day.") == "apple day"
    assert lm.normalize_answer("Theatre then; a.b") == "theatre then ab"  # whole words only; "a.b" → "ab"
    assert lm.normalize_answer("café — ok") == "café — ok"  # only ASCII punctuation goes


def test_qa_f1_counts_shared_tokens_with_multiplicity():
    # pred → [cat, sat, on, mat], gold → [cat, on, mat]: 3 shared, P = 3/4, R = 3/3
    assert lm.qa_f1_score("the cat sat on the mat", "A cat on a mat.") == pytest.approx(2 * 0.75 * 1 / 1.75)
    # pred [cat, cat, cat], gold [cat, dog]: min(3, 1) = 1 shared, P = 1/3, R = 1/2
    assert lm.qa_f1_score("cat cat cat", "cat dog") == pytest.approx(2 * (1 / 6) / (5 / 6))
    assert lm.qa_f1_score("The cat.", "cat") == 1.0
    assert lm.qa_f1_score("dog", "cat") == 0.0 and lm.qa_f1_score("", "cat") == 0.0


# -- Chinese: normalisation, jieba words -------------------------------------------------


def test_normalize_zh_answer_removes_chinese_punctuation_and_all_whitespace_but_no_articles():
    assert lm.normalize_zh_answer("Hello, 世界！ The end。") == "hello世界theend"
    assert lm.normalize_zh_answer("《红楼梦》") == "《红楼梦"  # LongBench's list has 》 but not 《


def test_qa_f1_zh_compares_normalised_jieba_words():
    jieba = quiet_jieba()
    assert list(jieba.cut("我爱北京！")) == ["我", "爱", "北京", "！"]
    # pred [我, 爱, 北京] ("！" normalises to "" and is dropped), gold [北京]: P = 1/3, R = 1
    assert lm.qa_f1_zh_score("我爱北京！", "北京") == pytest.approx(0.5)
    assert list(jieba.cut("北京大学")) == ["北京大学"]
    assert lm.qa_f1_zh_score("北京大学", "北京") == 0.0  # words, not characters


# -- ROUGE-L -------------------------------------------------------------------------------


def test_rouge_l_unions_per_sentence_lcs_over_distinct_words():
    # ref sentences [[the, cat, ran]]; candidate [[the, cat, sat], [the, dog, ran]]:
    # LCS words {the, cat} ∪ {the, ran} = 3; m = 3 distinct ref words, n = 5 candidate words
    p, r = 3 / 5, 3 / 3
    expected = 2 * p * r / (p + r + 1e-8)
    assert lm.rouge_score("the cat sat. the dog ran", "the cat ran") == pytest.approx(expected, rel=1e-12)
    # case-sensitive: {cat, sat} of {The, cat, sat} and {the, cat, sat}
    assert lm.rouge_score("The cat sat.", "the cat sat") == pytest.approx(2 / 3, rel=1e-7)
    assert lm.rouge_score("", "the cat") == lm.rouge_score("...", "the cat") == lm.rouge_score("the cat", "") == 0.0


def test_rouge_zh_scores_jieba_words_joined_by_spaces():
    quiet_jieba()
    # "我 爱 北京" vs "北京": one sentence each, LCS {北京}, R = 1, P = 1/3
    assert lm.rouge_zh_score("我爱北京", "北京") == pytest.approx(0.5, rel=1e-7)


def test_google_rouge_score_is_not_longbenchs_rouge():
    from rouge_score import rouge_scorer

    google = rouge_scorer.RougeScorer(["rougeL"]).score("the cat sat", "The cat sat.")["rougeL"].fmeasure
    assert google == 1.0 and lm.rouge_score("The cat sat.", "the cat sat") < 0.67


def test_rouge_equals_the_rouge_package_and_scores_what_it_cannot():
    Rouge = pytest.importorskip("rouge").Rouge
    rng = random.Random(0)
    words = ["the", "cat", "The", "sat", "on", "mat", ".", "dog", "ran", "", " ", "\n", "a.b"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(120)]
    for hyp, ref in zip(texts[::2], texts[1::2]):
        try:
            expected = Rouge().get_scores([hyp], [ref], avg=True)["rouge-l"]["f"]
        except ValueError:  # an empty text: LongBench scores 0.0
            expected = 0.0
        assert lm.rouge_score(hyp, ref) == pytest.approx(expected, rel=1e-12, abs=1e-15), (hyp, ref)
    # two 600-word sentences sharing one word: rouge recurses ~1200 deep and fails (LongBench: 0.0)
    ref, hyp = " ".join(["x"] + [f"r{i}" for i in range(600)]), " ".join(["x"] + [f"h{i}" for i in range(600)])
    with pytest.raises(RecursionError):
        Rouge().get_scores([hyp], [ref], avg=True)
    assert lm.rouge_score(hyp, ref) == pytest.approx(2 * (1 / 601) ** 2 / (2 / 601 + 1e-8))


# -- retrieval, count, classification, code -------------------------------------------------


def test_retrieval_is_the_share_of_numbers_equal_to_the_paragraph():
    assert lm.retrieval_score("Paragraph 3", "Paragraph 3") == 1.0
    assert lm.retrieval_score("Paragraph 3 or Paragraph 13", "Paragraph 3") == 0.5  # "13" is not "3"
    assert lm.retrieval_score("Paragraph 3, not 1 or 2", "Paragraph 3") == pytest.approx(1 / 3)
    assert lm.retrieval_score("The answer is Paragraph 03", "Paragraph 3") == 0.0  # strings, not values
    assert lm.retrieval_score("no idea", "Paragraph 3") == 0.0
    assert lm.retrieval_score("7", "Paragraph 7 and Paragraph 9") == 1.0  # the answer's first number
    assert lm.retrieval_zh_score("答案是段落5", "段落5") == 1.0
    assert lm.retrieval_zh_score("段落5或段落15", "段落5") == 0.5


def test_count_is_the_share_of_numbers_equal_to_the_answer():
    assert lm.count_score("3", "3") == 1.0
    assert lm.count_score("There are 3 unique paragraphs out of 10", "3") == 0.5
    assert lm.count_score("three", "3") == 0.0


def test_classification_matches_named_classes_and_drops_those_inside_the_answer():
    classes = ["city", "other city", "animal", "date"]
    # named: [city, other city]; "city" is a proper substring of the answer, dropped
    assert lm.classification_score("other city", "other city", classes) == 1.0
    assert lm.classification_score("city", "other city", classes) == 0.0
    assert lm.classification_score("animal or other city", "other city", classes) == 0.5  # [other city, animal]
    assert lm.classification_score("date", "animal", classes) == 0.0
    assert lm.classification_score("City", "city", classes) == 0.0  # case-sensitive
    # LongBench removes from the list it walks: after dropping "c" it skips "city", which stays
    assert lm.classification_score("other city", "other city", ["c", "city", "other city"]) == 0.5


def test_code_similarity_reads_the_first_code_line():
    assert lm.first_code_line("\n```python\n# set x\nx = foo(1)\ny = 2\n```") == "x = foo(1)"
    assert lm.first_code_line("// c\nreturn x;") == "return x;" and lm.first_code_line("# only") == ""
    assert lm.code_sim_score("```\nx = foo(1)\n```", "x = foo(1)") == 1.0
    assert lm.code_sim_score("y = foo(1)", "x = foo(1)") == 0.9  # 9 of 10 characters match: 2·9/20
    assert lm.code_sim_score("# nothing", "x = 1") == 0.0


def test_fuzz_ratio_equals_fuzzywuzzy():
    fuzz = pytest.importorskip("fuzzywuzzy.fuzz")
    rng = random.Random(1)
    chars = "abcde ()=._;"
    texts = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 300))) for _ in range(200)]  # ≥ 200: autojunk
    for a, b in zip(texts[::2], texts[1::2]):
        assert lm.fuzz_ratio(a, b) == fuzz.ratio(a, b) and lm.fuzz_ratio(b, b) == fuzz.ratio(b, b) == 100


def test_metrics_equal_lm_evals_copy_of_longbenchs():
    pytest.importorskip("rouge")
    pytest.importorskip("fuzzywuzzy")
    quiet_jieba()
    from lm_eval.tasks.longbench import metrics as reference

    rng = random.Random(2)
    vocab = ["the", "a", "Cat", "sat", ".", ",", "12", "Paragraph", "段落", "我们", "北京大学", "，", "。", " "]
    texts = ["".join(rng.choice(vocab) + rng.choice(["", " "]) for _ in range(rng.randint(0, 20)))
             for _ in range(300)]
    for p, g in zip(texts[::2], texts[1::2]):
        for name in ("qa_f1_score", "qa_f1_zh_score", "rouge_score", "rouge_zh_score", "count_score"):
            assert getattr(lm, name)(p, g) == pytest.approx(getattr(reference, name)(p, g), abs=1e-12), (name, p, g)
        n = rng.randint(1, 30)
        answer = p + f" Paragraph {n}"
        assert lm.retrieval_score(answer, "Paragraph 7") == reference.retrieval_score(answer, "Paragraph 7")
        classes = rng.sample(["Loc", "Location", "Other location", "Animal", "Other", "Other number"], 4)
        named = " ".join(rng.sample(classes, rng.randint(0, 4)))
        assert lm.classification_score(named, classes[0], classes) == reference.classification_score(
            named, classes[0], all_classes=classes)


# -- scoring one example ---------------------------------------------------------------------


def test_score_takes_the_first_line_for_the_few_shot_datasets_and_the_best_answer():
    assert lm.prepare_prediction("triviaqa", "\n\nParis\nQuestion: next") == "Paris"
    assert lm.prepare_prediction("qasper", "\nParis\nmore") == "\nParis\nmore"
    assert lm.score_prediction("triviaqa", "\nParis\nLondon", ["London", "Paris"]) == 1.0
    assert lm.score_prediction("qasper", "Paris\nLondon", ["London"]) == pytest.approx(2 / 3)  # P = 1/2, R = 1
    assert lm.score_prediction("trec", "Location\nDate", ["Location"], TREC_CLASSES) == 1.0
    assert lm.score_prediction("qasper", "anything", []) == 0.0


def test_length_buckets_follow_longbench_e():
    assert [lm.length_bucket(n) for n in (0, 3999, 4000, 7999, 8000, 100_000)] == [
        "0-4k", "0-4k", "4-8k", "4-8k", "8k+", "8k+"]


def test_task_scores_names_the_metric_and_thresholds_correct_at_one_half():
    task = build("2wikimqa")
    example = {"answers": ["Cahiers du cinéma"], "all_classes": []}
    assert task.score(example, "Cahiers du cinéma") == {"qa_f1_score": 1.0, "correct": 1.0}
    assert task.score(example, "Cahiers du") == {"qa_f1_score": pytest.approx(0.8), "correct": 1.0}  # P = 1, R = 2/3
    assert task.score(example, "the Cahiers journal") == {"qa_f1_score": pytest.approx(0.4), "correct": 0.0}


def test_task_hooks_per_dataset():
    assert build("samsum").stop == ("\n",) and build("qasper").stop == ()
    assert {d: build(d).max_new_tokens for d in ("hotpotqa", "gov_report", "lcc")} == {
        "hotpotqa": 32, "gov_report": 512, "lcc": 64}
    assert build("qasper").question_field == "input" and build("gov_report").question_field is None
    assert build("trec").extract("\nLocation\nQuestion: x") == "Location"
    assert build("lcc").extract("```\n# comment\nreturn x\n```") == "return x"
    example = {"answers": ["Paragraph 15", "15"], "length": 8525}
    assert build("passage_retrieval_en").target(example) == "Paragraph 15 | 15"
    assert build("passage_retrieval_en").groups(example) == {"length": "8k+"}


# -- middle truncation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_fit_keeps_a_prompt_that_fits(tiny_tokenizer):
    task, prompt = build("qasper"), "Question: Tom has 3 apples.\nAnswer: 7"
    n = len(tiny_tokenizer(prompt)["input_ids"])
    assert task.fit({}, prompt, tiny_tokenizer, n) == prompt


@pytest.mark.parametrize("max_tokens", [2, 9, 10, 30])
def test_fit_keeps_the_first_and_last_half_of_the_tokens(tiny_tokenizer, max_tokens):
    prompt = ("Question: Tom has 3 apples. He gets 4 more. How many apples does Tom have now?\n"
              "Answer: 7 and Lena has 12 marbles")
    ids = tiny_tokenizer(prompt)["input_ids"]
    assert len(ids) > max_tokens
    half = max_tokens // 2
    kept = ids[:half] + ids[len(ids) - half:]
    fitted = build("qasper").fit({}, prompt, tiny_tokenizer, max_tokens)
    assert fitted == tiny_tokenizer.decode(ids[:half]) + tiny_tokenizer.decode(ids[len(ids) - half:])
    assert tiny_tokenizer(fitted)["input_ids"] == kept  # token by token: these cuts re-tokenize the same


def test_fit_drops_special_tokens_from_the_kept_halves(tiny_tokenizer):
    prompt = "<|endoftext|>Question: Tom has 3 apples. He gets 4 more. How many apples does Tom have now?"
    ids = tiny_tokenizer(prompt)["input_ids"]
    assert ids[0] == tiny_tokenizer.eos_token_id
    fitted = build("qasper").fit({}, prompt, tiny_tokenizer, 8)
    assert "<|endoftext|>" not in fitted
    assert fitted == tiny_tokenizer.decode(ids[1:4]) + tiny_tokenizer.decode(ids[-4:])


# -- loading ---------------------------------------------------------------------------------


def test_hub_arguments_read_the_pinned_archive_member(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    assert longbench.dataset_arguments("repobench-p") == {
        "path": "json", "split": "test",
        "data_files": {"test": "zip://data/repobench-p.jsonl::hf://datasets/zai-org/LongBench"
                               "@5e628be450b7e67fb7ae6e201bd6d8f7056f7672/data.zip"}}


def test_a_local_archive_stands_in_for_the_hub(tmp_path, monkeypatch):
    rows = [row(i, dataset="trec", all_classes=TREC_CLASSES, answers=["Location"]) for i in range(3)]
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data/trec.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setattr(longbench, "HUB_ARCHIVE", str(archive))
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: True)
    task = build("trec")
    examples = task.load(limit=2)
    assert [e["id"] for e in examples] == ["longbench/trec/0", "longbench/trec/1"]
    assert examples[1] == {"id": "longbench/trec/1", "input": "Question 1?", "context": "Context 1.",
                           "answers": ["Location"], "all_classes": TREC_CLASSES, "length": 100, "_id": "id1"}
    assert task.prompt(examples[1]) == longbench.PROMPTS["trec"].format(context="Context 1.", input="Question 1?")
    assert task.score(examples[1], "Location\nQuestion: next")["classification_score"] == 1.0
    with pytest.raises(DataFileError, match="zip://data/lsht.jsonl"):
        build("lsht").load()  # not in this archive


def test_an_unreachable_hub_without_local_data_is_a_connection_error(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: False)
    with pytest.raises(ConnectionError, match="BENCH_DATA_DIR"):
        build("qasper").load()


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "not found"), ("not json\n", "not JSON lines"),
     (f"{json.dumps(row(0))}\n{json.dumps({**row(1), 'answers': None})}\n", "row 1 \\(from 0\\) has no answers")],
)
def test_bad_local_files_name_the_file_and_the_fields(tmp_path, monkeypatch, content, problem):
    path = tmp_path / "longbench" / "qasper.jsonl"
    if content is not None:
        path.parent.mkdir(parents=True)
        path.write_text(content)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataFileError, match=problem) as err:
        build("qasper").load()
    assert str(path) in str(err.value) and "input, context, answers, length, all_classes, _id" in str(err.value)


def test_split_and_limit_are_checked(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "longbench" / "qasper.jsonl", [row(0), row(1)])
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    assert len(build("qasper").load(limit=None)) == 2
    with pytest.raises(InvalidParameterError, match="'split'"):
        build("qasper").load(split="train")
    with pytest.raises(InvalidParameterError, match="'limit'"):
        build("qasper").load(limit=-1)


@pytest.mark.parametrize("dataset", sorted(SHARED))
def test_shared_rows_load_and_their_gold_answer_scores_one(shared_data, dataset):
    task = build(dataset)
    examples = task.load(limit=3)
    assert len(examples) == min(3, SHARED[dataset])
    assert len({e["id"] for e in examples}) == len(examples)
    for example in examples:
        prompt = task.prompt(example)
        assert example["context"] in prompt and example["input"] in prompt
        assert example["all_classes"] == [] and isinstance(example["length"], int)
        scores = task.score(example, example["answers"][0])
        assert scores[task.metric] == pytest.approx(1.0, abs=1e-7) and scores["correct"] == 1.0
        assert task.groups(example) == {"length": lm.length_bucket(example["length"])}
