"""Pure functions shared by the sampling-based measures: similarity graphs and their spectra.

The spectral measures (``eig_val_laplacian``, ``degree_matrix``, ``eccentricity``,
``kernel_language_entropy``) read a similarity matrix ``S`` [n, n] over an example's n samples
and turn it into a weighted graph ``W``:

- :func:`affinity` — ``W = (S + Sᵀ) / 2`` with negative weights set to 0. The NLI
  similarities are not symmetric, hence the symmetrisation (as Lin et al. and LM-Polygraph do);
  a negative cosine means "unrelated", an edge of weight 0 (LM-Polygraph's similarities are
  never negative, so this changes nothing where the two can be compared);
- :func:`normalized_laplacian` — ``L = I − D^{-1/2} W D^{-1/2}`` with ``D = diag(W 1)``;
- :func:`laplacian` — ``L = D − W``, positive semidefinite for ``W ≥ 0``.

:func:`score_examples` is the per-example loop every sampling-based measure shares: where a
score is undefined (NaN) it warns once per call, naming the measure and the reason.
:class:`GraphMeasure` is the base of the measures that score one similarity graph per example.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import scipy.linalg

from entropy_bench.calculators.similarity import KINDS, LEXICAL, MODEL_DEFAULTS, Similarity
from entropy_bench.methods.registry import require
from entropy_bench.methods.uncertainty.base import UncertaintyMeasure


def symmetrise(w: np.ndarray) -> np.ndarray:
    """``(W + Wᵀ) / 2``."""
    return (w + w.T) / 2


def affinity(similarity: np.ndarray) -> np.ndarray:
    """The graph of a similarity matrix: symmetrised, negative weights set to 0."""
    return np.clip(symmetrise(np.asarray(similarity, dtype=float)), 0.0, None)


def degrees(w: np.ndarray) -> np.ndarray:
    """``d_i = Σ_j W_ij``."""
    return w.sum(axis=1)


def laplacian(w: np.ndarray) -> np.ndarray:
    """The unnormalised Laplacian ``D − W`` (self-loops cancel: they add to D and to W alike)."""
    return np.diag(degrees(w)) - w


def normalized_laplacian(w: np.ndarray) -> np.ndarray:
    """``I − D^{-1/2} W D^{-1/2}``; a node of degree 0 (no edge, not even to itself) gets a zero
    row and column (Chung's convention: it is a component of its own, an eigenvalue 0), where
    ``D^{-1/2}`` would divide by zero."""
    d = degrees(w)
    connected = d > 0
    inv_sqrt = np.where(connected, 1.0 / np.sqrt(np.where(connected, d, 1.0)), 0.0)
    return np.diag(connected.astype(float)) - inv_sqrt[:, None] * w * inv_sqrt[None, :]


def eigenvalues(symmetric: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of a symmetric matrix."""
    return scipy.linalg.eigh(symmetric, eigvals_only=True)


def eigenpairs(symmetric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues ``[n]`` and the matching orthonormal eigenvectors as columns ``[n, n]``."""
    return scipy.linalg.eigh(symmetric)


def similarity_model(owner: str, kind: str, model: str) -> str:
    """The model of a ``Similarity(kind, model)`` requirement, checked as ``owner``'s fields:
    empty for the lexical kinds, the kind's default model when left empty for the others."""
    require(kind in KINDS, owner, "similarity", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind in LEXICAL:
        require(not model, owner, "model", f"a {kind} similarity takes no model, got {model!r}")
        return model
    return model or MODEL_DEFAULTS[kind]


def score_examples(values: Iterable[Any], score: Callable[[Any], float], measure: str, reason: str) -> np.ndarray:
    """``[score(v) for v in values]`` as floats; if any is NaN, one warning naming ``measure``,
    how many examples and ``reason``."""
    out = np.array([score(v) for v in values], dtype=float)
    undefined = int(np.isnan(out).sum())
    if undefined:
        warnings.warn(f"{measure}: score undefined (NaN) for {undefined} of {len(out)} examples: {reason}",
                      RuntimeWarning, stacklevel=3)
    return out


NON_FINITE = "the similarity matrix has non-finite entries"


def graph_scores(matrices: Iterable[Any], score: Callable[[np.ndarray], float], measure: str,
                 reason: str = NON_FINITE) -> np.ndarray:
    """:func:`score_examples` over similarity matrices (tensors or arrays): NaN for a matrix
    with a non-finite entry (an NLI or embedding failure upstream), ``score`` otherwise (which
    may be NaN for the measure's own ``reason``)."""

    def checked(matrix: Any) -> float:
        s = np.asarray(matrix, dtype=float)
        return score(s) if np.isfinite(s).all() else float("nan")

    return score_examples(matrices, checked, measure, reason)


@dataclasses.dataclass(frozen=True)
class GraphMeasure(UncertaintyMeasure):
    """A measure of each example's ``Similarity(similarity, model)`` graph: :meth:`graph_score`
    per matrix, through :func:`graph_scores` (NaN for a non-finite matrix, with a warning).
    ``model`` is checked and defaulted by :func:`similarity_model`."""

    similarity: str = "jaccard"
    model: str = ""

    def __post_init__(self):
        object.__setattr__(self, "model", similarity_model(self.name, self.similarity, self.model))

    @property
    def requires(self) -> frozenset:  # type: ignore[override]
        return frozenset({Similarity(self.similarity, self.model)})

    def graph_score(self, similarity: np.ndarray) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement graph_score")

    def __call__(self, stats: Mapping[Any, Any]) -> np.ndarray:
        return graph_scores(stats[Similarity(self.similarity, self.model)], self.graph_score, self.id)
