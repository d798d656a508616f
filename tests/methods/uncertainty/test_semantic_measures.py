"""semantic_entropy, num_semantic_sets and lexical_similarity against hand-computed values and
LM-Polygraph's formulas (copied here as independent references; LM-Polygraph is not installed)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from rouge_score import rouge_scorer
from scipy.special import logsumexp

from entropy_bench.calculators.semantic_classes import SemanticClasses
from entropy_bench.calculators.similarity import Similarity
from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.lexical_similarity import LexicalSimilarity, lexical_similarity_score
from entropy_bench.methods.uncertainty.num_semantic_sets import NumSemanticSets, num_semantic_sets_score
from entropy_bench.methods.uncertainty.semantic_entropy import SemanticEntropy, class_log_probs, semantic_entropy_score


def gen(text: str, logprob: list[float]) -> Generation:
    n = len(logprob)
    return Generation(text=text, token_ids=list(range(n)), logprob=logprob, entropy=[0.0] * n,
                      warped_logprob=logprob, warped_entropy=[0.0] * n, top_ids=[], top_logprobs=[],
                      finish_reason="eos")


def se_stats(measure: SemanticEntropy, labels: list[list[int]], samples: list[list[Generation]]) -> dict:
    stats = {measure.classes: labels}
    if "samples" in measure.requires:
        stats["samples"] = samples
    return stats


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- semantic entropy: the pure function -----------------------------------------------------


@pytest.mark.parametrize("estimate", ["mean", "direct"])
@pytest.mark.parametrize("log_likelihoods", [None, [-0.3, -2.0, -5.0, 0.0]])
def test_one_class_has_zero_semantic_entropy(estimate, log_likelihoods):
    assert semantic_entropy_score([0, 0, 0, 0], log_likelihoods, estimate) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("estimate", ["mean", "direct"])
def test_k_equiprobable_classes_have_semantic_entropy_log_k(k, estimate):
    labels = [c for c in range(k) for _ in range(2)]  # two samples per class
    assert semantic_entropy_score(labels, None, estimate) == pytest.approx(math.log(k), abs=1e-12)
    equal = [-1.7] * len(labels)  # equal sequence likelihoods: the sum estimate is the frequency one
    assert semantic_entropy_score(labels, equal, estimate) == pytest.approx(math.log(k), abs=1e-12)


def test_mean_and_direct_estimates_on_a_hand_case():
    # P(s) = 0.5, 0.1 (class 0) and 0.2 (class 1): p_0 = 0.6 / 0.8 = 0.75, p_1 = 0.25.
    ll = np.log([0.5, 0.1, 0.2])
    direct = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 0.562335
    mean = -(2 * math.log(0.75) + math.log(0.25)) / 3  # over the samples: 0.653886
    assert semantic_entropy_score([0, 0, 1], ll, "direct") == pytest.approx(direct, abs=1e-12)
    assert semantic_entropy_score([0, 0, 1], ll, "mean") == pytest.approx(mean, abs=1e-12)
    assert direct == pytest.approx(0.562335, abs=1e-6) and mean == pytest.approx(0.653886, abs=1e-6)


def test_class_probabilities_never_exceed_one_with_duplicate_samples():
    # five copies of a likely answer (P = 0.9 each) and one other (P = 0.05)
    ll = [math.log(0.9)] * 5 + [math.log(0.05)]
    labels = [0] * 5 + [1]
    log_p, index = class_log_probs(labels, ll)
    assert np.all(np.exp(log_p) <= 1.0) and np.exp(log_p).sum() == pytest.approx(1.0)
    assert np.exp(log_p) == pytest.approx([4.5 / 4.55, 0.05 / 4.55])
    assert list(index) == labels
    # LM-Polygraph's unnormalised class probability (np.logaddexp.reduce over the members) is 4.5
    assert math.exp(np.logaddexp.reduce(np.array(ll[:5]))) == pytest.approx(4.5)


def lm_polygraph_semantic_entropy_mean(labels, ll):
    """LM-Polygraph's SemanticEntropy, estimate 'mean' (estimators/semantic_entropy.py, lines 91-125)."""
    class_to_sample = [[j for j, c in enumerate(labels) if c == k] for k in sorted(set(labels))]
    if ll is None:
        class_lp = np.log([len(idx) / len(labels) for idx in class_to_sample])
    else:
        class_lp = [np.logaddexp.reduce(np.array(ll)[np.array(idx)]) for idx in class_to_sample]
    return -np.mean([class_lp[labels[j]] for j in range(len(labels))])


def test_mean_estimate_agrees_with_lm_polygraph_up_to_its_missing_normalisation():
    rng = np.random.default_rng(0)
    labels = [0, 1, 0, 2, 1, 0, 3]
    ll = rng.normal(-3, 1, size=len(labels))
    ours_frequency = semantic_entropy_score(labels, None, "mean")
    assert ours_frequency == pytest.approx(lm_polygraph_semantic_entropy_mean(labels, None), abs=1e-12)
    # LM-Polygraph's class log-probabilities lack the −logsumexp(ll) of the normalisation
    ours_sum = semantic_entropy_score(labels, ll, "mean")
    assert ours_sum == pytest.approx(lm_polygraph_semantic_entropy_mean(labels, ll) + logsumexp(ll), abs=1e-12)


# --- semantic entropy: the measure -----------------------------------------------------------


def test_semantic_entropy_reads_classes_and_sequence_likelihoods():
    m = SemanticEntropy(estimate="direct")
    assert m.requires == {SemanticClasses("math_answer"), "samples"}
    samples = [[gen("7", [math.log(0.5)]), gen("seven", [math.log(0.2), math.log(0.5)]), gen("8", [math.log(0.2)])]]
    out = m(se_stats(m, [[0, 0, 1]], samples))  # P = 0.5, 0.1, 0.2 as in the hand case
    assert out == pytest.approx([-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))])


def test_semantic_entropy_ids_record_the_class_statistic():
    assert SemanticEntropy().id == (
        "semantic_entropy(equivalence=math_answer,estimate=mean,model=,probability=sum,strict=True)")
    nli = UNCERTAINTY.build("semantic_entropy", equivalence="nli", strict=False, probability="frequency")
    assert nli.model == "microsoft/deberta-large-mnli"
    assert nli.requires == {SemanticClasses("nli", "microsoft/deberta-large-mnli", False)}
    assert "model=microsoft/deberta-large-mnli" in nli.id and "strict=False" in nli.id


@pytest.mark.parametrize(("params", "field"), [
    ({"equivalence": "math_answer", "model": "some/model"}, "model"),
    ({"equivalence": "math_answer", "strict": False}, "strict"),
    ({"equivalence": "embedding", "strict": False}, "strict"),
    ({"equivalence": "exact"}, "equivalence"),
    ({"probability": "max"}, "probability"),
    ({"estimate": "plugin"}, "estimate"),
])
def test_semantic_entropy_refuses_bad_parameters_naming_the_field(params, field):
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build("semantic_entropy", **params)
    assert (err.value.owner, err.value.field) == ("semantic_entropy", field)


@pytest.mark.parametrize("probability", ["sum", "frequency"])
def test_semantic_entropy_degenerate_inputs_are_defined(probability, no_warnings):
    m = SemanticEntropy(probability=probability)
    single = [gen("4", [-0.5])]
    identical = [gen("4", [-0.5])] * 4
    empty = [gen("", []), gen("", [])]  # no tokens: log P = 0
    out = m(se_stats(m, [[0], [0, 0, 0, 0], [0, 1]], [single, identical, empty]))
    assert out == pytest.approx([0.0, 0.0, math.log(2)])


def test_semantic_entropy_is_nan_with_one_warning_where_undefined():
    m = SemanticEntropy()
    samples = [[gen("4", [float("nan")])], [gen("4", [-1.0])], [], [gen("5", [float("-inf")])]]
    with pytest.warns(RuntimeWarning, match=r"semantic_entropy\(.*\): score undefined \(NaN\) for 3 of 4") as record:
        out = m(se_stats(m, [[0], [0], [], [0]], samples))
    assert len(record) == 1
    assert np.isnan(out[[0, 2, 3]]).all() and out[1] == 0.0


# --- number of semantic sets -----------------------------------------------------------------


def test_num_semantic_sets_counts_the_classes():
    assert num_semantic_sets_score([0, 1, 0, 2, 1]) == 3.0
    m = NumSemanticSets()
    assert m.requires == {SemanticClasses("math_answer")}
    out = m({SemanticClasses("math_answer"): [[0, 1, 0, 2, 1], [0], [0, 0, 0], [0, 1, 2, 3]]})
    assert out.tolist() == [3.0, 1.0, 1.0, 4.0]


def test_num_semantic_sets_parameters():
    m = UNCERTAINTY.build("num_semantic_sets", equivalence="embedding")
    assert m.id == "num_semantic_sets(equivalence=embedding,model=sentence-transformers/all-MiniLM-L6-v2,strict=True)"
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build("num_semantic_sets", model="x")
    assert err.value.field == "model"


def test_num_semantic_sets_without_samples_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="num_semantic_sets"):
        out = NumSemanticSets()({SemanticClasses("math_answer"): [[], [0]]})
    assert np.isnan(out[0]) and out[1] == 1.0


# --- lexical similarity ----------------------------------------------------------------------

TEXTS = ["the cat sat", "the cat sat on the mat", "a dog ran"]


def matrices(kind: str, rows: list[list[str]]) -> list:
    return Similarity(kind).compute({"samples": [[gen(t, [-1.0]) for t in row] for row in rows]})


def test_lexical_similarity_by_hand_and_with_rouge_score():
    # ROUGE-L F1: "the cat sat" vs "the cat sat on the mat": LCS 3, P = 3/3, R = 3/6, F = 2/3;
    # the two others share no word with "a dog ran". Mean over the 3 pairs: (2/3) / 3 = 2/9.
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    pairs = [(0, 1), (0, 2), (1, 2)]
    reference = -np.mean([scorer.score(TEXTS[i], TEXTS[j])["rougeL"].fmeasure for i, j in pairs])
    assert reference == pytest.approx(-2 / 9)
    m = LexicalSimilarity()
    assert m.requires == {Similarity("rouge_l")}
    assert m({Similarity("rouge_l"): matrices("rouge_l", [TEXTS])}) == pytest.approx([-2 / 9])
    # Jaccard: {the, cat, sat} vs {the, cat, sat, on, mat} = 3/5, the others 0: mean 1/5
    jac = LexicalSimilarity(metric="jaccard")
    assert jac({Similarity("jaccard"): matrices("jaccard", [TEXTS])}) == pytest.approx([-1 / 5])


def test_lexical_similarity_pure_function_reads_the_upper_triangle():
    s = np.array([[1.0, 0.2, 0.4], [0.9, 1.0, 0.6], [0.9, 0.9, 1.0]])  # lower triangle ignored
    assert lexical_similarity_score(s) == pytest.approx(-0.4)


def test_lexical_similarity_identical_and_empty_texts(no_warnings):
    out = LexicalSimilarity()({Similarity("rouge_l"): matrices("rouge_l", [["a b c"] * 3, ["", ""], ["", "a"]])})
    assert out == pytest.approx([-1.0, 0.0, 0.0])


def test_lexical_similarity_of_a_single_sample_is_nan_with_one_warning():
    with pytest.warns(RuntimeWarning, match="lexical_similarity.*2 of 3.*single sample") as record:
        out = LexicalSimilarity()({Similarity("rouge_l"): matrices("rouge_l", [["x"], TEXTS, ["y"]])})
    assert len(record) == 1
    assert np.isnan(out[[0, 2]]).all() and out[1] == pytest.approx(-2 / 9)


def test_lexical_similarity_refuses_a_model_based_metric():
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build("lexical_similarity", metric="cosine")
    assert err.value.field == "metric"
