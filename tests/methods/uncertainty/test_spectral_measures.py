"""The spectral measures (eig_val_laplacian, degree_matrix, eccentricity, kernel_language_entropy)
against hand-derived values on block-diagonal graphs and against LM-Polygraph's formulas, copied
here as independent references (LM-Polygraph is not installed)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from entropy_bench.calculators.similarity import Similarity
from entropy_bench.methods.records import Generation
from entropy_bench.methods.registry import UNCERTAINTY, InvalidParameterError
from entropy_bench.methods.uncertainty.degree_matrix import DegreeMatrix, degree_matrix_score
from entropy_bench.methods.uncertainty.eccentricity import Eccentricity, eccentricity_score
from entropy_bench.methods.uncertainty.eig_val_laplacian import EigValLaplacian, eig_val_laplacian_score
from entropy_bench.methods.uncertainty.graph import normalized_laplacian
from entropy_bench.methods.uncertainty.kernel_language_entropy import (
    KernelLanguageEntropy,
    kernel_language_entropy_score,
    von_neumann_entropy,
)

SPECTRAL = ["eig_val_laplacian", "degree_matrix", "eccentricity", "kernel_language_entropy"]


def blocks(sizes: list[int]) -> np.ndarray:
    """k disjoint cliques: a block of ones per size."""
    return scipy.linalg.block_diag(*[np.ones((m, m)) for m in sizes])


def random_similarity(rng: np.random.Generator, n: int) -> np.ndarray:
    """A symmetric matrix in [0, 1] with a unit diagonal, as a Jaccard or ROUGE matrix."""
    s = rng.uniform(0, 1, (n, n))
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    return s


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- LM-Polygraph's formulas, copied as references -------------------------------------------


def lmp_laplacian(W):
    """estimators/eig_val_laplacian.py lines 73-75 (also eccentricity.py)."""
    D = np.diag(W.sum(axis=1))
    D_inverse_sqrt = np.linalg.inv(np.sqrt(D))
    return np.eye(D.shape[0]) - D_inverse_sqrt @ W @ D_inverse_sqrt


def lmp_eig_val(W):
    return sum([max(0, 1 - lambda_k) for lambda_k in scipy.linalg.eigh(lmp_laplacian(W), eigvals_only=True)])


def lmp_deg_mat(W):
    """estimators/deg_mat.py lines 71-72."""
    D = np.diag(W.sum(axis=1))
    return np.trace(len(W) - D) / (len(W) ** 2)


def lmp_eccentricity(W, thres=0.9):
    """estimators/eccentricity.py lines 73-93."""
    eigenvalues, eigenvectors = scipy.linalg.eigh(lmp_laplacian(W))
    keep_mask = eigenvalues < thres
    smallest_eigenvectors = eigenvectors[:, keep_mask].T
    C_Ecc_s_j = (-1) * np.asarray([np.linalg.norm(x - x.mean(0), 2) for x in smallest_eigenvectors])
    return np.linalg.norm(C_Ecc_s_j, 2)


def lmp_kle(matrix_entail, matrix_contra, t=0.3):
    """estimators/kernel_language_entropy.py (HEAD, after 4c1123c6): normalize=True, scale=True, jitter=0."""
    matrix_entail = matrix_entail + matrix_entail.T
    matrix_contra = matrix_contra + matrix_contra.T
    matrix_neutral = 2 * np.ones(matrix_entail.shape) - matrix_entail - matrix_contra
    weighted_graph = matrix_entail + 0.5 * matrix_neutral
    laplacian = np.diag(np.sum(weighted_graph, axis=0)) - weighted_graph
    K = scipy.linalg.expm(-t * laplacian)
    diagonal_values = np.sqrt(np.diag(K)) + 1e-12
    K = K / np.outer(diagonal_values, diagonal_values) / K.shape[0]
    result = 0
    for e in np.linalg.eig(K).eigenvalues.astype(np.float64):
        if np.abs(e) > 1e-8:
            result -= e * np.log(e)
    return result / -np.log(1.0 / K.shape[0])


# --- block-diagonal graphs: hand-derived values ----------------------------------------------

BLOCKS = [[5], [3, 2], [2, 2, 2, 2], [4, 1, 3], [1, 1, 1], [6, 2, 1, 3, 1]]


@pytest.mark.parametrize("sizes", BLOCKS, ids=str)
def test_block_diagonal_graphs(sizes):
    # k cliques of sizes m_c, n = Σ m_c. D^{-1/2} W D^{-1/2} is J_m / m per block: eigenvalues 1 (k
    # times) and 0, so L has eigenvalue 0 k times and 1 otherwise:
    #   eig_val = Σ max(0, 1 − λ) = k;   degree = 1 − Σ_ij W_ij / n² = 1 − Σ m_c² / n².
    # eccentricity: the eigenvalue-0 space is spanned by u_c = 1_c / √m_c; centring removes the
    # mean √m_c / n from each entry, ‖u_c − mean‖² = 1 − m_c / n, summed over c: k − 1.
    s, k, n = blocks(sizes), len(sizes), sum(sizes)
    assert eig_val_laplacian_score(s) == pytest.approx(k, abs=1e-12)
    assert degree_matrix_score(s) == pytest.approx(1 - sum(m * m for m in sizes) / n**2, abs=1e-12)
    assert eccentricity_score(s, 0.9) == pytest.approx(math.sqrt(k - 1), abs=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_lin_et_al_measures_match_lm_polygraph_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    s = random_similarity(rng, n)
    assert eig_val_laplacian_score(s) == pytest.approx(lmp_eig_val(s), abs=1e-10)
    assert degree_matrix_score(s) == pytest.approx(lmp_deg_mat(s), abs=1e-10)
    assert eccentricity_score(s, 0.9) == pytest.approx(lmp_eccentricity(s), abs=1e-10)
    for threshold in (0.3, 1.2):
        assert eccentricity_score(s, threshold) == pytest.approx(lmp_eccentricity(s, threshold), abs=1e-10)


def test_asymmetric_nli_graphs_are_symmetrised_as_lm_polygraph():
    rng = np.random.default_rng(7)
    entail = rng.uniform(0, 1, (6, 6))  # P(entail | s_i, s_j), not symmetric
    w = (entail + entail.T) / 2  # LM-Polygraph's NLI branch, line 65
    assert eig_val_laplacian_score(entail) == pytest.approx(lmp_eig_val(w), abs=1e-10)
    assert degree_matrix_score(entail) == pytest.approx(lmp_deg_mat(w), abs=1e-10)
    assert eccentricity_score(entail, 0.9) == pytest.approx(lmp_eccentricity(w), abs=1e-10)


def test_a_zero_degree_sample_is_a_set_of_its_own():
    # sample 2 has a zero embedding (cosine row 0). {0, 1}: W/1.5 = [[2/3, 1/3], [1/3, 2/3]],
    # eigenvalues 1 and 1/3, so L has 0 and 2/3; the isolated sample adds an eigenvalue 0:
    # Σ max(0, 1 − λ) = 1 + 1/3 + 1 = 7/3.
    s = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(normalized_laplacian(s), [[1 / 3, -1 / 3, 0], [-1 / 3, 1 / 3, 0], [0, 0, 0]])
    assert eig_val_laplacian_score(s) == pytest.approx(7 / 3)
    assert np.isfinite(eccentricity_score(s, 0.9))


def test_negative_similarities_are_edges_of_weight_zero():
    s = np.array([[1.0, -0.5, -0.2], [-0.5, 1.0, -0.1], [-0.2, -0.1, 1.0]])  # cosines
    assert eig_val_laplacian_score(s) == pytest.approx(3.0)
    assert degree_matrix_score(s) == pytest.approx(1 - 3 / 9)


# --- kernel language entropy -----------------------------------------------------------------


def test_kle_rises_with_the_number_of_semantic_blocks_and_w_minus_d_would_not():
    # Regression test for LM-Polygraph's first KLE, which used L = W − D (so expm(+t(D − W))):
    # on 12 samples in k equal cliques, more cliques (more meanings) must score strictly higher.
    t = 0.3
    ours, wrong = [], []
    for k in (1, 2, 3, 4):
        s = blocks([12 // k] * k)
        ours.append(kernel_language_entropy_score(s, t, "diagonal"))
        w = s + s.T
        anti = scipy.linalg.expm(-t * (w - np.diag(w.sum(axis=1))))
        wrong.append(von_neumann_entropy(anti / np.trace(anti)))
    assert np.all(np.diff(ours) > 0), ours
    assert np.all(np.diff(wrong) < 0), wrong  # the W − D variant orders them the other way


@pytest.mark.parametrize("normalize", ["diagonal", "trace"])
@pytest.mark.parametrize("t", [0.1, 0.3, 2.0])
def test_kle_without_edges_is_log_n(normalize, t):
    # W = S + Sᵀ = 2I has only self-loops: L = 0, K = I, ρ = I/n, entropy log n for every t
    assert kernel_language_entropy_score(np.eye(5), t, normalize) == pytest.approx(math.log(5), abs=1e-12)


@pytest.mark.parametrize("normalize", ["diagonal", "trace"])
@pytest.mark.parametrize("t", [0.05, 0.3, 1.0])
def test_kle_of_the_complete_graph_has_a_closed_form(normalize, t):
    # S = J (n × n ones): W = 2J, L = 2nI − 2J, eigenvalues 0 (once) and 2n (n − 1 times);
    # K = J/n + q (I − J/n), q = exp(−2nt), has eigenvalues 1 and q and a constant diagonal, so both
    # normalisations give ρ = K / (1 + (n − 1) q): eigenvalues 1/Z and q/Z with Z = 1 + (n − 1) q.
    n = 4
    q = math.exp(-2 * n * t)
    z = 1 + (n - 1) * q
    expected = -(1 / z) * math.log(1 / z) - (n - 1) * (q / z) * math.log(q / z)
    assert kernel_language_entropy_score(np.ones((n, n)), t, normalize) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_kle_matches_lm_polygraph_up_to_its_log_n_scaling(seed):
    rng = np.random.default_rng(seed)
    n = 6
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=(n, n))  # NLI P(entail, neutral, contradiction)
    entail, contra = probs[..., 0], probs[..., 2]
    m = KernelLanguageEntropy()
    assert m.requires == {Similarity("nli_entail"), Similarity("nli_contra")}
    stats = {Similarity("nli_entail"): [torch.tensor(entail)], Similarity("nli_contra"): [torch.tensor(1 - contra)]}
    assert m(stats)[0] / math.log(n) == pytest.approx(lmp_kle(entail, contra), abs=1e-10)


def test_kle_of_one_sample_is_zero():
    assert kernel_language_entropy_score(np.ones((1, 1)), 0.3, "diagonal") == pytest.approx(0.0, abs=1e-12)


# --- the measures: requirements, parameters, degenerate inputs -------------------------------


def test_measures_read_the_similarity_they_name():
    assert EigValLaplacian().requires == {Similarity("jaccard")}
    assert DegreeMatrix(similarity="nli_contra").requires == {Similarity("nli_contra", "microsoft/deberta-large-mnli")}
    assert Eccentricity(similarity="cosine").model == "sentence-transformers/all-MiniLM-L6-v2"
    assert Eccentricity().id == "eccentricity(model=,similarity=jaccard,threshold=0.9)"
    assert KernelLanguageEntropy(similarity="jaccard").requires == {Similarity("jaccard")}
    assert KernelLanguageEntropy().id == (
        "kernel_language_entropy(model=microsoft/deberta-large-mnli,normalize=diagonal,similarity=nli,t=0.3)")


@pytest.mark.parametrize(("name", "params", "field"), [
    *[(n, {"similarity": "bleu"}, "similarity") for n in SPECTRAL],
    *[(n, {"similarity": "jaccard", "model": "m"}, "model") for n in SPECTRAL],
    ("eccentricity", {"threshold": 0.0}, "threshold"),
    ("kernel_language_entropy", {"t": 0.0}, "t"),
    ("kernel_language_entropy", {"normalize": "frobenius"}, "normalize"),
])
def test_bad_parameters_name_their_field(name, params, field):
    with pytest.raises(InvalidParameterError) as err:
        UNCERTAINTY.build(name, **params)
    assert (err.value.owner, err.value.field) == (name, field)


def jaccard_rows(rows: list[list[str]]) -> list:
    samples = [[Generation(t, [], [], [], [], [], [], [], "eos") for t in row] for row in rows]
    return Similarity("jaccard").compute({"samples": samples})


def test_degenerate_inputs_are_defined(no_warnings):
    # a single sample; four identical samples; four empty texts (Jaccard 0 between empty texts,
    # 1 on the diagonal, as LM-Polygraph: W = I, every sample its own set)
    stats = {Similarity("jaccard"): jaccard_rows([["4"], ["x y"] * 4, [""] * 4])}
    assert EigValLaplacian()(stats) == pytest.approx([1.0, 1.0, 4.0])
    assert DegreeMatrix()(stats) == pytest.approx([0.0, 0.0, 1 - 1 / 4])
    assert Eccentricity()(stats) == pytest.approx([0.0, 0.0, math.sqrt(3)], abs=1e-10)
    # KLE: 0 for one sample; identical samples are the complete graph (closed form above with
    # n = 4, t = 0.3: q = e^{-2.4}); unrelated samples log n
    q = math.exp(-2.4)
    z = 1 + 3 * q
    complete = -(1 / z) * math.log(1 / z) - 3 * (q / z) * math.log(q / z)
    assert KernelLanguageEntropy(similarity="jaccard")(stats) == pytest.approx([0.0, complete, math.log(4)], abs=1e-12)


@pytest.mark.parametrize("name", SPECTRAL)
def test_non_finite_similarities_give_nan_with_one_warning(name):
    m = UNCERTAINTY.build(name, similarity="jaccard")
    bad = torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]], dtype=torch.float64)
    stats = {Similarity("jaccard"): [bad, torch.eye(2, dtype=torch.float64), bad]}
    expected = rf"{name}\(.*2 of 3 examples: the similarity matrix has non-finite"
    with pytest.warns(RuntimeWarning, match=expected) as record:
        out = m(stats)
    assert len(record) == 1
    assert np.isnan(out[[0, 2]]).all() and np.isfinite(out[1])
