"""LongBench v1's metrics, as pure functions: ``LongBench/metrics.py`` and the scoring loop of
``LongBench/eval.py`` in THUDM/LongBench (commit ``2e00731f8d0bff23dc4325161044d0ed8af94c1e``,
the files unchanged since the v1 code moved under ``LongBench/`` in ``c5ea10b``).

Scoring one prediction (``eval.py``'s ``scorer``): for trec, triviaqa, samsum and lsht the
prediction is first cut to its first line (``prediction.lstrip("\\n").split("\\n")[0]``); the
score is then ``max(0, max over the example's answers of metric(prediction, answer))``, with
the example's ``all_classes`` given to the classification metric. LongBench-E's length buckets
(``scorer_e``): ``length < 4000`` → ``"0-4k"``, ``< 8000`` → ``"4-8k"``, else ``"8k+"``.

The metrics reproduce the official functions value for value, with these choices:

1. ROUGE-L (``rouge_score``): the official one is the ``rouge`` PyPI package (1.0.1, the
   version its unpinned requirement installs), ``Rouge().get_scores([p], [r], avg=True)
   ["rouge-l"]["f"]``, computed here (:func:`rouge_score`), not with Google's ``rouge-score``,
   whose RougeL differs: it lower-cases, keeps only ``[a-z0-9]`` tokens (Chinese text has none),
   counts repeated words and takes one LCS over the whole text, where ``rouge`` splits
   sentences at ``.``, is case-sensitive, counts distinct words and unions per-sentence LCSs
   (``"The cat sat."`` vs ``"the cat sat"``: ``rouge`` 0.667, ``rouge-score`` 1.0).
   ``rouge`` rebuilds each LCS recursively, one frame per step back, up to |r|+|c| frames for
   a sentence pair: past Python's limit of 1000 (two 700-word sentences do it; Chinese
   summaries, which hold no ``.``, are one sentence each) it raises ``RecursionError``, which
   LongBench's bare ``except`` scores 0.0; here the LCS is rebuilt iteratively and scored.
2. Code similarity (``code_sim_score``): ``fuzzywuzzy.fuzz.ratio`` as LongBench's requirements
   install it, without python-Levenshtein: ``difflib.SequenceMatcher`` (Ratcliff/Obershelp),
   ``round(100 * ratio)``, 100 for equal strings, 0 when one is empty. With python-Levenshtein
   (or rapidfuzz's ``fuzz.ratio``) the ratio is the Indel similarity ``2·LCS/(|a|+|b|)``,
   which can differ.
3. Chinese tokens are jieba's (``jieba.cut(text, cut_all=False)``), as in LongBench.
"""

from __future__ import annotations

import difflib
import functools
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

CHINESE_PUNCTUATION = (  # LongBench's ``cn_punctuation`` (it has "》" but not "《")
    "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
)
ARTICLES = r"\b(a|an|the)\b"
FIRST_LINE_DATASETS = ("trec", "triviaqa", "samsum", "lsht")
RETRIEVAL_PATTERN = r"Paragraph (\d+)"
RETRIEVAL_ZH_PATTERN = r"段落(\d+)"
ROUGE_EPSILON = 1e-8  # rouge 1.0.1: F = 2PR / (P + R + 1e-8)
LENGTH_BUCKETS = ((4000, "0-4k"), (8000, "4-8k"))  # eval.py's scorer_e; longer: "8k+"


def normalize_answer(text: str) -> str:
    """Lower-cased, ASCII punctuation (``string.punctuation``) removed, the words a/an/the
    removed, whitespace runs collapsed to one space (SQuAD's normalisation)."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(re.sub(ARTICLES, " ", text).split())


def normalize_zh_answer(text: str) -> str:
    """Lower-cased, ASCII and Chinese punctuation removed, all whitespace removed (no article
    removal)."""
    drop = set(string.punctuation + CHINESE_PUNCTUATION)
    return "".join("".join(ch for ch in text.lower() if ch not in drop).split())


def token_f1(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """F1 of two token multisets: with c = |prediction ∩ reference| (counts), P = c/|prediction|,
    R = c/|reference|, F1 = 2PR/(P+R); 0 when c = 0."""
    common = sum((Counter(prediction) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def jieba_words(text: str) -> list[str]:
    """jieba's segmentation of ``text`` (accurate mode), every piece kept."""
    import jieba  # loads its dictionary on first use

    return list(jieba.cut(text, cut_all=False))


def qa_f1_score(prediction: str, ground_truth: str) -> float:
    """Token F1 of the whitespace tokens of the normalised texts (:func:`normalize_answer`)."""
    return token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def qa_f1_zh_score(prediction: str, ground_truth: str) -> float:
    """Token F1 of the jieba words, each normalised (:func:`normalize_zh_answer`), empty ones dropped."""

    def tokens(text: str) -> list[str]:
        return [w for w in map(normalize_zh_answer, jieba_words(text)) if w]

    return token_f1(tokens(prediction), tokens(ground_truth))


def rouge_sentences(text: str) -> list[list[str]]:
    """``rouge``'s tokens: the text split at ``.``, empty pieces dropped, each piece's whitespace
    runs collapsed, then split at single spaces (a whitespace-only piece is the one token ``""``)."""
    return [" ".join(piece.split()).split(" ") for piece in text.split(".") if piece]


def lcs_words(x: list[str], y: list[str]) -> set[str]:
    """The words of the longest common subsequence of ``x`` and ``y`` that ``rouge`` rebuilds:
    from the end, take a match, else step back in ``x`` if that keeps a strictly longer LCS,
    else in ``y``."""
    table = [[0] * (len(y) + 1) for _ in range(len(x) + 1)]
    for i, a in enumerate(x, 1):
        for j, b in enumerate(y, 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a == b else max(table[i - 1][j], table[i][j - 1])
    words, i, j = set(), len(x), len(y)
    while i and j:
        if x[i - 1] == y[j - 1]:
            words.add(x[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return words


def rouge_score(prediction: str, ground_truth: str) -> float:
    """LongBench's ROUGE-L: ``rouge`` 1.0.1's summary-level ROUGE-L F (its ``exclusive`` default: words as sets).
    With reference sentences r_i, candidate sentences c_j (:func:`rouge_sentences`),
    U = ∪_ij words(LCS(r_i, c_j)), m and n the distinct words of reference and candidate:
    R = |U|/m, P = |U|/n, F = 2PR/(P+R+1e-8); 0 when either text has no sentence."""
    reference, candidate = rouge_sentences(ground_truth), rouge_sentences(prediction)
    if not reference or not candidate:
        return 0.0  # rouge raises ValueError, which LongBench scores 0.0
    union = set().union(*(lcs_words(r, c) for r in reference for c in candidate))
    recall = len(union) / len({w for s in reference for w in s})
    precision = len(union) / len({w for s in candidate for w in s})
    return 2.0 * (precision * recall / (precision + recall + ROUGE_EPSILON))


def rouge_zh_score(prediction: str, ground_truth: str) -> float:
    """ROUGE-L (:func:`rouge_score`) of the texts' jieba words joined by single spaces."""
    return rouge_score(" ".join(jieba_words(prediction)), " ".join(jieba_words(ground_truth)))


def number_share(prediction: str, number: str) -> float:
    """The share of the digit runs (``\\d+``) of ``prediction`` equal to ``number`` as strings
    (``"03"`` is not ``"3"``); 0 when it has none."""
    numbers = re.findall(r"\d+", prediction)
    return sum(n == number for n in numbers) / len(numbers) if numbers else 0.0


def count_score(prediction: str, ground_truth: str) -> float:
    """passage_count: :func:`number_share` of the answer (``"2 or 3"`` against ``"3"``: 0.5)."""
    return number_share(prediction, str(ground_truth))


def retrieval_score(prediction: str, ground_truth: str) -> float:
    """passage_retrieval_en: :func:`number_share` of the paragraph number in the answer's first
    ``Paragraph (\\d+)``."""
    return number_share(prediction, re.findall(RETRIEVAL_PATTERN, ground_truth)[0])


def retrieval_zh_score(prediction: str, ground_truth: str) -> float:
    """passage_retrieval_zh: :func:`number_share` of the number in the answer's first ``段落(\\d+)``."""
    return number_share(prediction, re.findall(RETRIEVAL_ZH_PATTERN, ground_truth)[0])


def first_code_line(prediction: str) -> str:
    """The first line (leading newlines dropped) holding none of ``` ` ```, ``#``, ``//``; ``""``
    if there is none."""
    lines = prediction.lstrip("\n").split("\n")
    return next((line for line in lines if "`" not in line and "#" not in line and "//" not in line), "")


def fuzz_ratio(a: str, b: str) -> int:
    """fuzzywuzzy 0.18's ``fuzz.ratio`` without python-Levenshtein: 100 if a == b, 0 if one is
    empty, else ``round(100 · SequenceMatcher(None, a, b).ratio())`` (autojunk on, as there)."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return round(100 * difflib.SequenceMatcher(None, a, b).ratio())


def code_sim_score(prediction: str, ground_truth: str) -> float:
    """lcc, repobench-p: ``fuzz_ratio(first_code_line(prediction), answer) / 100``."""
    return fuzz_ratio(first_code_line(prediction), ground_truth) / 100


def classification_score(prediction: str, ground_truth: str, all_classes: Sequence[str]) -> float:
    """trec, lsht: the classes named in the prediction (substring match, in ``all_classes``
    order), less those that are a proper substring of the answer, score 1/(their number) if the
    answer is among them, else 0. As in LongBench, the removal walks the list it removes from:
    the class right after a removed one is not checked (and so kept)."""
    named = [c for c in all_classes if c in prediction]
    i = 0
    while i < len(named):
        if named[i] in ground_truth and named[i] != ground_truth:
            named.remove(named[i])
        i += 1
    return 1.0 / len(named) if ground_truth in named else 0.0


DATASET_METRICS: dict[str, Callable[..., float]] = {  # eval.py's dataset2metric, in its order
    "narrativeqa": qa_f1_score,
    "qasper": qa_f1_score,
    "multifieldqa_en": qa_f1_score,
    "multifieldqa_zh": qa_f1_zh_score,
    "hotpotqa": qa_f1_score,
    "2wikimqa": qa_f1_score,
    "musique": qa_f1_score,
    "dureader": rouge_zh_score,
    "gov_report": rouge_score,
    "qmsum": rouge_score,
    "multi_news": rouge_score,
    "vcsum": rouge_zh_score,
    "trec": classification_score,
    "triviaqa": qa_f1_score,
    "samsum": rouge_score,
    "lsht": classification_score,
    "passage_retrieval_en": retrieval_score,
    "passage_count": count_score,
    "passage_retrieval_zh": retrieval_zh_score,
    "lcc": code_sim_score,
    "repobench-p": code_sim_score,
}
DATASETS = tuple(DATASET_METRICS)


def metric_name(dataset: str) -> str:
    """The name of ``dataset``'s metric (``qa_f1_score``, ``rouge_zh_score``, …)."""
    return DATASET_METRICS[dataset].__name__


def prepare_prediction(dataset: str, prediction: str) -> str:
    """The prediction as ``eval.py`` scores it: its first line (leading newlines dropped) for
    trec, triviaqa, samsum and lsht; unchanged otherwise."""
    return prediction.lstrip("\n").split("\n")[0] if dataset in FIRST_LINE_DATASETS else prediction


def score_prediction(dataset: str, prediction: str, answers: Sequence[str], all_classes: Sequence[str] = ()) -> float:
    """``eval.py``'s per-example score: ``max(0, max_a metric(prepared prediction, a))`` over
    the answers ``a`` (``all_classes`` goes to the classification metric)."""
    metric = DATASET_METRICS[dataset]
    if metric is classification_score:
        metric = functools.partial(classification_score, all_classes=all_classes)
    prediction = prepare_prediction(dataset, prediction)
    return max([0.0, *(metric(prediction, answer) for answer in answers)])


def length_bucket(length: int) -> str:
    """LongBench-E's length interval of an example's ``length`` (words of its input, context and
    first answer; characters in Chinese): ``"0-4k"`` below 4000, ``"4-8k"`` below 8000, else ``"8k+"``."""
    return next((name for bound, name in LENGTH_BUCKETS if length < bound), "8k+")
