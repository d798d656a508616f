"""The estimator interface.

An estimator maps one :class:`~entropy_bench.methods.records.SampleSet` to one number, in
**nats** where it is an entropy or a mutual information:

    estimate = estimator(samples)

It declares the ``quantity`` it estimates and the ``sample_kind`` it reads
(``discrete`` / ``continuous`` / ``paired``). The estimation track runs an estimator on every
data task (distribution) of the same sample kind whose truth for that quantity is known,
and reports bias and RMSE against ``truth(task)``.

Quantities: ``entropy`` (Shannon, discrete), ``differential_entropy``, ``mutual_information``,
and the representation-matrix quantities (``matrix_entropy``, ``nuclear_norm``,
``effective_rank``), whose truth is the estimator's own formula applied to the distribution's
population second-moment matrix E[x xᵀ] (their n → ∞ limit), through :meth:`population`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import Method

MATRIX_QUANTITIES = ("matrix_entropy", "nuclear_norm", "effective_rank")


class Estimator(Method):
    quantity: ClassVar[str] = "entropy"
    sample_kind: ClassVar[str] = "discrete"

    def __call__(self, samples: SampleSet) -> float:
        if samples.kind != self.sample_kind:
            raise TypeError(f"{self.id} reads {self.sample_kind} samples, got {samples.kind}")
        return float(self.estimate(samples))

    def estimate(self, samples: SampleSet) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement estimate")

    def truth(self, task: Any) -> float | None:
        """The true value of this estimator's quantity under ``task`` (a data task), or ``None``."""
        if self.quantity in MATRIX_QUANTITIES:
            moment = task.second_moment()
            return None if moment is None else float(self.population(moment))
        return task.truth(self.quantity)

    def population(self, second_moment: np.ndarray) -> float:
        """Matrix-based estimators: the quantity's value for the population E[x xᵀ] ``[d, d]``."""
        raise NotImplementedError(f"{type(self).__name__} estimates {self.quantity}, which has no matrix population")


class DiscreteEstimator(Estimator):
    """Entropy from symbol counts: subclasses implement :meth:`from_counts`."""

    quantity: ClassVar[str] = "entropy"
    sample_kind: ClassVar[str] = "discrete"

    def estimate(self, samples: SampleSet) -> float:
        return self.from_counts(samples.counts(), samples.alphabet_size)

    def from_counts(self, counts: np.ndarray, alphabet_size: int | None) -> float:
        """H estimate (nats) from ``counts[K]`` (zeros allowed); ``alphabet_size`` K when known."""
        raise NotImplementedError(f"{type(self).__name__} must implement from_counts")
