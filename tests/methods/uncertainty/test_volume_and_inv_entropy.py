"""semantic_volume (Li et al. 2025) and inv_entropy (Song et al. 2025): invariances, hand-computed
values, and the Inv-Entropy reference code's formula (copied here as an independent reference)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from entropy_bench.calculators.embeddings import Embeddings
from entropy_bench.calculators.perturbation_nli import PerturbationNLI
from entropy_bench.calculators.perturbation_responses import PerturbationResponses
from entropy_bench.calculators.perturbations import Perturbations
from entropy_bench.calculators.question_embeddings import QuestionEmbeddings
from entropy_bench.calculators.response_embeddings import ResponseEmbeddings
from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.inv_entropy import (
    InvEntropy,
    cosine_similarity,
    inv_entropy_once,
    inv_entropy_score,
    response_choices,
    transition_matrix,
)
from entropy_bench.methods.uncertainty.semantic_volume import SemanticVolume, semantic_volume_score

EPS = 1e-10
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# --- semantic volume -------------------------------------------------------------------------


def test_semantic_volume_of_two_vectors_is_log_sin_squared():
    # Gram [[1, cos θ], [cos θ, 1]]: det = sin²θ = 0.75 at θ = π/3 (lengths do not matter)
    v = np.array([[2.0, 0.0], [0.5 * math.cos(math.pi / 3), 0.5 * math.sin(math.pi / 3)]])
    assert semantic_volume_score(v, None, EPS) == pytest.approx(math.log(0.75), abs=1e-9)
    assert semantic_volume_score(np.eye(3), None, EPS) == pytest.approx(0.0, abs=1e-9)  # orthonormal: det 1


@pytest.mark.parametrize("n_components", [None, 3])
def test_semantic_volume_is_invariant_to_rotations(n_components):
    rng = np.random.default_rng(0)
    e = rng.normal(size=(6, 8))
    q = random_orthogonal(rng, 8)
    assert np.allclose(q @ q.T, np.eye(8))
    assert semantic_volume_score(e @ q, n_components, EPS) == pytest.approx(
        semantic_volume_score(e, n_components, EPS), rel=1e-9)


@pytest.mark.parametrize("n_components", [None, 3])
def test_semantic_volume_grows_with_dispersion(n_components):
    # n = 5 embeddings u + s δ_i around a common direction u, the deviations δ_i = c_i e_{i+1}
    # orthogonal to u and to each other (random lengths c_i), all rotated at random: larger s,
    # larger volume. (Unit Gram = a aᵀ + diag(1 − a²) with a_i = 1/√(1 + s²c_i²); its determinant
    # falls with every a_i.)
    rng = np.random.default_rng(1)
    u = np.eye(10)[0]
    deltas = np.eye(10)[1:6] * rng.uniform(0.5, 2.0, size=(5, 1))
    q = random_orthogonal(rng, 10)
    scores = [semantic_volume_score((u + s * deltas) @ q, n_components, EPS) for s in (0.01, 0.05, 0.1, 0.3, 1.0, 3.0)]
    assert np.all(np.diff(scores) > 0), scores


def test_identical_embeddings_have_the_minimum_volume():
    n = 5
    same = np.tile(np.array([0.3, -1.2, 0.5, 2.0]), (n, 1))
    # unit Gram = all ones, rank 1: eigenvalues n and 0 (n − 1 times)
    minimum = math.log(n + EPS) + (n - 1) * math.log(EPS)
    assert semantic_volume_score(same, None, EPS) == pytest.approx(minimum, rel=1e-12)
    assert semantic_volume_score(same, 2, EPS) == pytest.approx(n * math.log(EPS), rel=1e-12)  # PCA centres to 0
    rng = np.random.default_rng(2)
    for _ in range(20):
        assert semantic_volume_score(rng.normal(size=(n, 4)), None, EPS) > minimum
        assert semantic_volume_score(rng.normal(size=(n, 4)), 2, EPS) > n * math.log(EPS)


def test_the_n_by_n_gram_and_the_d_by_d_form_differ_by_a_constant():
    # log det(VᵀV + ε I_d) over d = 7 dimensions = log det(V Vᵀ + ε I_n) + (d − n) log ε
    rng = np.random.default_rng(3)
    e = rng.normal(size=(3, 7))
    unit = e / np.linalg.norm(e, axis=1, keepdims=True)
    d_by_d = np.linalg.slogdet(unit.T @ unit + EPS * np.eye(7))[1]
    # (the product VᵀV leaves round-off ~1e-16 on its 4 zero eigenvalues: ~1e-6 each beside ε)
    assert d_by_d == pytest.approx(semantic_volume_score(e, None, EPS) + 4 * math.log(EPS), abs=1e-5)


def test_semantic_volume_measure_reads_the_embeddings(no_warnings):
    m = SemanticVolume()
    assert m.requires == {Embeddings(MODEL)}
    assert m.id == f"semantic_volume(eps=1e-10,model={MODEL},n_components=None,source=responses)"
    stats = {Embeddings(MODEL): [torch.eye(3, 4), torch.ones(1, 4), torch.zeros(2, 4)]}
    # orthonormal: 0; a single sample: log(1 + ε); zero embeddings (nothing to normalise): 2 log ε
    assert m(stats) == pytest.approx([0.0, math.log(1 + EPS), 2 * math.log(EPS)], abs=1e-9)
    assert UNCERTAINTY.build("semantic_volume", n_components=4).n_components == 4


def test_external_semantic_volume_reads_the_perturbed_questions(no_warnings):
    m = SemanticVolume(source="queries", n_perturbations=2)
    assert m.requires == {QuestionEmbeddings(MODEL, 2)}
    assert m.id == f"semantic_volume(eps=1e-10,model={MODEL},n_components=None,n_perturbations=2,source=queries)"
    same = torch.ones(3, 4)  # the question and 2 perturbations that mean the same: rank 1
    stats = {QuestionEmbeddings(MODEL, 2): [torch.eye(3, 4), same]}
    assert m(stats) == pytest.approx([0.0, math.log(3 + EPS) + 2 * math.log(EPS)], abs=1e-9)


def test_semantic_volume_of_a_non_finite_embedding_is_nan_with_a_warning():
    bad = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    with pytest.warns(RuntimeWarning, match=r"semantic_volume\(.*1 of 2 examples: an embedding has non-finite"):
        out = SemanticVolume()({Embeddings(MODEL): [bad, torch.eye(2)]})
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"source": "queries"}, "n_perturbations", "with source=queries"),
    ({"source": "queries", "n_perturbations": 0}, "n_perturbations", "positive"),
    ({"n_perturbations": 20}, "n_perturbations", "applies to source=queries only"),
    ({"source": "answers"}, "source", "must be one of"),
    ({"n_components": 0}, "n_components", "positive"),
    ({"eps": 0.0}, "eps", "positive"),
    ({"model": ""}, "model", "model"),
])
def test_semantic_volume_refuses_bad_parameters(params, field, message):
    with pytest.raises(InvalidParameterError, match=message) as err:
        UNCERTAINTY.build("semantic_volume", **params)
    assert (err.value.owner, err.value.field) == ("semantic_volume", field)


# --- inv-entropy ------------------------------------------------------------------------------

E = np.eye(6)
# 3 inputs, 2 responses each: x1 = x2 = e1, x3 = e2; responses: input 1 → e3 or e4, input 2 → e4
# twice, input 3 → e5 twice.
INPUTS = np.stack([E[0], E[0], E[1]])
RESPONSES = np.stack([[E[2], E[3]], [E[3], E[3]], [E[4], E[4]]])


def test_inv_entropy_on_a_hand_built_case():
    # s = (1 + cos)/2. Inputs: s(x1, x2) = 1, s(x1, x3) = s(x2, x3) = 1/2, row sums 2.5, 2.5, 2:
    #   P_x = [[.4, .4, .2], [.4, .4, .2], [.25, .25, .5]].
    # Choice a (input 1 answered e3): responses e3, e4, e5 orthogonal, s = 1/2 off the diagonal:
    #   P_y = [[.5, .25, .25], [.25, .5, .25], [.25, .25, .5]];
    #   p_i = Σ_k P_y[i, k] P_x[k, i]: p_1 = .5·.4 + .25·.4 + .25·.25 = .3625, p_2 = .25·.4 + .5·.4
    #   + .25·.25 = .3625, p_3 = .25·.2 + .25·.2 + .5·.5 = .35.
    # Choice b (input 1 answered e4, as input 2): P_y = P_x, p_1 = p_2 = .4·.4 + .4·.4 + .2·.25 = .37,
    #   p_3 = .35.
    # H = −Σ p_i ln p_i: H_a = 2·.367840 + .367438 = 1.103118, H_b = 2·.367873 + .367438 = 1.103185.
    # n_bootstrap = 8 = 2³ takes every choice once: half a, half b.
    h_a = -(2 * 0.3625 * math.log(0.3625) + 0.35 * math.log(0.35))
    h_b = -(2 * 0.37 * math.log(0.37) + 0.35 * math.log(0.35))
    assert h_a == pytest.approx(1.103118, abs=1e-6) and h_b == pytest.approx(1.103185, abs=1e-6)
    p_x = transition_matrix(cosine_similarity(INPUTS, "shifted_cos"))
    assert np.allclose(p_x, [[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.25, 0.25, 0.5]])
    assert inv_entropy_once(p_x, transition_matrix(cosine_similarity(RESPONSES[:, 0], "shifted_cos"))) == pytest.approx(h_a, abs=1e-12)
    # the order of the product matters: diag(P_x P_y) would give p_1 = .4·.5 + .4·.25 + .2·.25 = .35
    assert np.einsum("ik,ki->i", p_x, transition_matrix(cosine_similarity(RESPONSES[:, 0], "shifted_cos")))[0] == pytest.approx(0.35)
    rng = np.random.default_rng(0)
    assert inv_entropy_score(INPUTS, RESPONSES, 8, rng, "shifted_cos") == pytest.approx((h_a + h_b) / 2, abs=1e-12)


def test_inv_entropy_abs_cos_variant_on_the_hand_case():
    # |cos|: P_x = [[.5, .5, 0], [.5, .5, 0], [0, 0, 1]]. Choice a: P_y = I, p = diag(P_x) =
    # (.5, .5, 1), H = ln 2. Choice b: P_y = P_x, p = diag(P_x²) = (.5, .5, 1), H = ln 2.
    rng = np.random.default_rng(0)
    assert inv_entropy_score(INPUTS, RESPONSES, 8, rng, "abs_cos") == pytest.approx(math.log(2), abs=1e-12)


def reference_inv_entropy(questions, answers, keep_indices):
    """Uncertainty-Quantification-for-LLMs, evaluate.py: compute_similarity_matrix (|cos| over the
    question and answer lists, each question repeated once per answer), row_normalize, and
    entropy_x_y_I of process_csv's bootstrap loop (lines 243-275)."""
    def sim(vectors):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.abs(unit @ unit.T)

    simX = sim(questions)[keep_indices, :][:, keep_indices]
    simY = sim(answers)[keep_indices, :][:, keep_indices]
    px = simX / simX.sum(axis=1, keepdims=True)
    py = simY / simY.sum(axis=1, keepdims=True)
    px_y_I = (py @ px).T
    return -np.sum(np.diag(px_y_I) * np.log(np.diag(px_y_I)))


def test_inv_entropy_matches_the_reference_code_with_abs_cos():
    rng = np.random.default_rng(4)
    n, r, d = 10, 5, 16
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, r, d))
    questions, answers = np.repeat(x, r, axis=0), y.reshape(n * r, d)
    choices = response_choices(n, r, 10, np.random.default_rng(9))
    assert len({tuple(c) for c in choices}) == 10  # distinct, as the reference's used_indices
    expected = np.mean([reference_inv_entropy(questions, answers, list(np.arange(n) * r + c)) for c in choices])
    assert inv_entropy_score(x, y, 10, np.random.default_rng(9), "abs_cos") == pytest.approx(expected, abs=1e-12)


def test_inv_entropy_is_reproducible_from_its_seed():
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(10, 8)), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=(10, 5, 8)), dtype=torch.float32)
    stats = stats_of([x, x], [y, y])
    first = InvEntropy(seed=3)(stats)
    assert np.array_equal(first, InvEntropy(seed=3)(stats))
    assert first[0] == first[1]  # one Generator per example: a score depends on its example and the seed only
    assert InvEntropy(seed=4)(stats)[0] != first[0]


def test_response_choices():
    rng = np.random.default_rng(0)
    drawn = response_choices(4, 3, 20, rng)
    assert drawn.shape == (20, 4) and len({tuple(c) for c in drawn}) == 20 and drawn.min() >= 0 and drawn.max() <= 2
    assert sorted(map(tuple, response_choices(2, 2, 10, rng))) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert response_choices(3, 1, 10, rng).tolist() == [[0, 0, 0]]


def stats_of(inputs: list, responses: list, n: int = 9, r: int = 5) -> dict:
    """The statistics InvEntropy(n_perturbations=n, n_responses=r) reads."""
    return {QuestionEmbeddings(MODEL, n): inputs, ResponseEmbeddings(MODEL, n, r): responses}


def test_inv_entropy_reads_the_perturbation_embeddings(no_warnings):
    m = InvEntropy(n_perturbations=3, n_responses=2)
    assert m.requires == {QuestionEmbeddings(MODEL, 3), ResponseEmbeddings(MODEL, 3, 2)}
    assert m.id == (f"inv_entropy(model={MODEL},n_bootstrap=10,n_perturbations=3,n_responses=2,seed=0,"
                    "similarity=shifted_cos)")


def test_inv_entropy_degenerate_inputs(no_warnings):
    m = InvEntropy()
    # one input: p = 1, H = 0. All identical: P_x = P_y = J/n, p_i = 1/n, H = log n.
    stats = stats_of([np.ones((1, 3)), np.ones((4, 3))], [np.ones((1, 2, 3)), np.ones((4, 5, 3))])
    assert m(stats) == pytest.approx([0.0, math.log(4)], abs=1e-12)


def test_inv_entropy_undefined_cases_are_nan_with_one_warning():
    stats = stats_of([np.zeros((2, 3)), np.full((2, 3), np.nan)], [np.ones((2, 2, 3))] * 2)
    with pytest.warns(RuntimeWarning, match=r"inv_entropy\(.*2 of 2 examples") as record:
        out = InvEntropy(similarity="abs_cos")(stats)
    assert len(record) == 1 and np.isnan(out).all()
    with pytest.raises(ValueError, match=r"inputs \[n, d\] and responses \[n, r, d\]"):
        inv_entropy_score(np.ones((3, 2)), np.ones((2, 2, 2)), 4, np.random.default_rng(0))


@pytest.mark.parametrize(("params", "field"), [
    ({"similarity": "cos"}, "similarity"),
    ({"n_bootstrap": 0}, "n_bootstrap"),
    ({"n_perturbations": 0}, "n_perturbations"),
    ({"n_responses": 0}, "n_responses"),
])
def test_inv_entropy_refuses_bad_parameters(params, field):
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build("inv_entropy", **params)
    assert (err.value.owner, err.value.field) == ("inv_entropy", field)


# --- Inv-Entropy with NLI similarities ------------------------------------------------------------


def test_inv_entropy_model_defaults_to_the_similaritys_kind_of_model():
    assert UNCERTAINTY.build("inv_entropy").model == MODEL
    nli = UNCERTAINTY.build("inv_entropy", similarity="nli_entail")
    assert nli.model == "microsoft/deberta-large-mnli"
    assert nli.requires == {PerturbationNLI("microsoft/deberta-large-mnli", 9, 5)}


def test_inv_entropy_on_nli_similarities_equals_the_cosine_path_on_the_same_matrices():
    """Entailment probabilities that happen to equal (1 + cos)/2 of some embeddings give the
    embedding variant's score; an asymmetric entailment matrix is symmetrised first."""
    rng = np.random.default_rng(3)
    n, r, d = 3, 2, 4
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, r, d))
    s_x, s_y = cosine_similarity(x, "shifted_cos"), cosine_similarity(y.reshape(n * r, d), "shifted_cos")
    skew_x, skew_y = rng.normal(scale=0.05, size=s_x.shape), rng.normal(scale=0.05, size=s_y.shape)
    m = InvEntropy(similarity="nli_entail", n_perturbations=n - 1, n_responses=r, n_bootstrap=5)
    stats = {m._nli: [{"questions": torch.tensor(s_x + skew_x - skew_x.T), "responses": torch.tensor(s_y + skew_y - skew_y.T)}]}
    expected = inv_entropy_score(x, y, 5, np.random.default_rng(0), "shifted_cos")
    assert m(stats)[0] == pytest.approx(expected, abs=1e-12)


def test_perturbation_nli_classifies_distinct_pairs_of_questions_and_of_all_responses():
    class Entail:
        def __init__(self):
            self.pairs = []

        def nli(self, model, pairs):
            self.pairs += pairs
            return torch.tensor([[1.0 if a == b else len(a) / (len(a) + len(b)), 0.0, 0.0] for a, b in pairs]).reshape(-1, 3)

    encoders = Entail()
    questions = [["q", "qq"]]
    responses = [[["a", "bb"], ["a", "ccc"]]]  # flattened: a, bb, a, ccc
    out = PerturbationNLI("m", 1, 2).compute({Perturbations(1): questions, PerturbationResponses(1, 2): responses,
                                              "encoders": encoders})
    assert out[0]["questions"].shape == (2, 2) and out[0]["responses"].shape == (4, 4)
    assert out[0]["responses"][0, 2] == 1.0 and out[0]["responses"][1, 3] == pytest.approx(2 / 5)
    assert len(encoders.pairs) == 2 ** 2 + 3 ** 2  # distinct texts only: q, qq and a, bb, ccc
