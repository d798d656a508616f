"""Synthetic distributions with closed-form (or quadrature) truth, for the estimation track.

Discrete: ``zipf``, ``dirichlet_multinomial``. Continuous: ``gaussian``, ``gaussian_mixture``.
Paired: ``gaussian_mi``. Every truth is in nats; its formula is in the class docstring.

Sampling (shared by every data task, ``lm_next_token`` included): ``sample(n, seed)`` draws from
``numpy.random.default_rng([seed, h])`` where ``h`` is the SHA-256 of the task id (parameters
included), so it is a pure function of (task, n, seed), stable across processes, and two tasks
never share a stream. Samples are **nested**: the first m rows of ``sample(n, seed)`` are
``sample(m, seed)`` (each row uses its own draws, in order; a task needing two kinds of draws
uses two spawned streams), so a convergence curve over n reuses one sample path.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import hashlib
import math

import numpy as np
from scipy import integrate, special

from entropy_bench.methods.records import SampleSet
from entropy_bench.methods.registry import require
from entropy_bench.tasks.base import TASKS, DataTask

LOG_2PIE = math.log(2 * math.pi * math.e)


# --- shared helpers --------------------------------------------------------------------------


def task_rng(task: DataTask, n: int, seed: int) -> np.random.Generator:
    """The generator of ``task.sample(n, seed)`` (``n`` is only validated: streams are nested)."""
    for field, value in (("n", n), ("seed", seed)):
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
        require(ok, task.name, field, f"must be an integer >= 0, got {value!r}")
    digest = int.from_bytes(hashlib.sha256(task.id.encode()).digest()[:16], "little")
    return np.random.default_rng([int(seed), digest])


def categorical(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """``n`` i.i.d. symbols from ``probs`` by inverse CDF: symbol = #{j : cdf_j <= u·cdf_K}."""
    cdf = np.cumsum(probs)
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").astype(np.int64)


def shannon_entropy(probs: np.ndarray) -> float:
    """H(p) = −Σ p_i log p_i in nats (0 log 0 = 0)."""
    return float(special.entr(np.asarray(probs, dtype=np.float64)).sum())


def read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def check_int(task: DataTask, field: str, low: int) -> None:
    value = getattr(task, field)
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low
    require(ok, task.name, field, f"must be an integer >= {low}, got {value!r}")
    object.__setattr__(task, field, int(value))


def check_real(task: DataTask, field: str, ok, domain: str) -> None:
    """Require a finite real in ``domain`` (``ok(value)``); store it as a float so ids are canonical."""
    value = getattr(task, field)
    real = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
    require(real and ok(value), task.name, field, f"must be a real number {domain}, got {value!r}")
    object.__setattr__(task, field, float(value))


# --- discrete ----------------------------------------------------------------------------------


class Categorical(DataTask):
    """A distribution over symbols 0 … K−1 given by :attr:`probs`; truth("entropy") = H(p)."""

    sample_kind = "discrete"

    @property
    @abc.abstractmethod
    def probs(self) -> np.ndarray:
        """p [K], read-only, summing to 1."""

    def sample(self, n: int, seed: int) -> SampleSet:
        x = categorical(task_rng(self, n, seed), self.probs, n)
        return SampleSet("discrete", x, alphabet_size=len(self.probs))

    def truth(self, quantity: str) -> float | None:
        return shannon_entropy(self.probs) if quantity == "entropy" else None


@TASKS.register("zipf", paper="Zipf (power-law) distribution on a finite alphabet")
@dataclasses.dataclass(frozen=True)
class Zipf(Categorical):
    """p_i = i^(−s) / Σ_j j^(−s) for i = 1 … K (symbol i − 1); truth("entropy") = −Σ p_i log p_i.

    ``exponent`` s = 0 is uniform (H = log K); larger s concentrates mass on the first symbols.
    """

    version = "1"

    alphabet_size: int = 100
    exponent: float = 1.0

    def __post_init__(self):
        check_int(self, "alphabet_size", 1)
        check_real(self, "exponent", lambda s: s >= 0, ">= 0")

    @functools.cached_property
    def probs(self) -> np.ndarray:
        log_w = -self.exponent * np.log(np.arange(1, self.alphabet_size + 1, dtype=np.float64))
        return read_only(np.exp(log_w - special.logsumexp(log_w)))


@TASKS.register(
    "dirichlet_multinomial",
    paper="Categorical p ~ Dirichlet(a·1_K), the prior behind the NSB entropy estimator (Nemenman et al., 2002)",
    url="https://arxiv.org/abs/physics/0108025",
)
@dataclasses.dataclass(frozen=True)
class DirichletMultinomial(Categorical):
    """p ~ Dirichlet(a·1_K) drawn once by ``default_rng(draw)``, then symbols i.i.d. from p;
    truth("entropy") = H(p) = −Σ p_i log p_i of that fixed p.

    Each ``draw`` is one fixed distribution; E over draws of H(p) is ψ(Ka + 1) − ψ(a + 1).
    """

    version = "1"

    alphabet_size: int = 100
    concentration: float = 1.0
    draw: int = 0

    def __post_init__(self):
        check_int(self, "alphabet_size", 1)
        check_real(self, "concentration", lambda a: a > 0, "> 0")
        check_int(self, "draw", 0)

    @functools.cached_property
    def probs(self) -> np.ndarray:
        rng = np.random.default_rng(self.draw)
        return read_only(rng.dirichlet(np.full(self.alphabet_size, self.concentration)))


# --- continuous ----------------------------------------------------------------------------------


@TASKS.register("gaussian", paper="Multivariate Gaussian with AR(1) (Kac–Murdock–Szegő) covariance")
@dataclasses.dataclass(frozen=True)
class Gaussian(DataTask):
    """x ~ N(0, Σ), Σ_ij = scale² · ρ^|i−j| (ρ = ``correlation``);
    truth("differential_entropy") = ½ log det(2πe Σ) = ½ [d log 2πe + d log scale² + (d−1) log(1−ρ²)].

    ``second_moment()`` = E[x xᵀ] = Σ.
    """

    version = "1"
    sample_kind = "continuous"

    dim: int = 2
    correlation: float = 0.5
    scale: float = 1.0

    def __post_init__(self):
        check_int(self, "dim", 1)
        check_real(self, "correlation", lambda r: -1 < r < 1, "in (-1, 1)")
        check_real(self, "scale", lambda s: s > 0, "> 0")

    @functools.cached_property
    def covariance(self) -> np.ndarray:
        lag = np.abs(np.subtract.outer(np.arange(self.dim), np.arange(self.dim)))
        return read_only(self.scale**2 * np.power(self.correlation, lag))

    def sample(self, n: int, seed: int) -> SampleSet:
        z = task_rng(self, n, seed).standard_normal((n, self.dim))
        return SampleSet("continuous", z @ np.linalg.cholesky(self.covariance).T)

    def truth(self, quantity: str) -> float | None:
        if quantity != "differential_entropy":
            return None
        return 0.5 * (self.dim * LOG_2PIE + float(np.linalg.slogdet(self.covariance)[1]))

    def second_moment(self) -> np.ndarray:
        return self.covariance.copy()


@TASKS.register(
    "gaussian_mi",
    paper="Correlated Gaussian pairs, the standard MI benchmark (Kraskov et al., 2004)",
    url="https://arxiv.org/abs/cond-mat/0305641",
)
@dataclasses.dataclass(frozen=True)
class GaussianMI(DataTask):
    """(x, y) jointly Gaussian, x ∈ R^dx and y ∈ R^dy standard normal, corr(x_i, y_i) = ρ for
    i < m = min(dx, dy) and every other pair independent;
    truth("mutual_information") = ½ log(det Σx det Σy / det Σ) = −(m/2) log(1 − ρ²).

    Sampled as x = z, y_i = ρ x_i + √(1−ρ²) z'_i for i < m, y_i = z'_i otherwise.
    """

    version = "1"
    sample_kind = "paired"

    dim_x: int = 1
    dim_y: int = 1
    correlation: float = 0.5

    def __post_init__(self):
        check_int(self, "dim_x", 1)
        check_int(self, "dim_y", 1)
        check_real(self, "correlation", lambda r: -1 < r < 1, "in (-1, 1)")

    def sample(self, n: int, seed: int) -> SampleSet:
        z = task_rng(self, n, seed).standard_normal((n, self.dim_x + self.dim_y))
        x, y = z[:, : self.dim_x], z[:, self.dim_x :].copy()
        m, rho = min(self.dim_x, self.dim_y), self.correlation
        y[:, :m] = rho * x[:, :m] + math.sqrt(1 - rho**2) * y[:, :m]
        return SampleSet("paired", x.copy(), y=y)

    def truth(self, quantity: str) -> float | None:
        if quantity != "mutual_information":
            return None
        return -0.5 * min(self.dim_x, self.dim_y) * math.log1p(-self.correlation**2)


@TASKS.register("gaussian_mixture", paper="Equal-weight mixture of unit Gaussians, entropy by quadrature")
@dataclasses.dataclass(frozen=True)
class GaussianMixture(DataTask):
    """x ~ (1/K) Σ_k N(μ_k e₁, I_d), μ_k = (k − (K−1)/2) · ``separation`` (K = ``components``);
    truth("differential_entropy") = −∫ f log f dt + ½ (d−1) log 2πe, where
    f(t) = (1/K) Σ_k φ(t − μ_k) is the first coordinate's density and the integral is
    ``scipy.integrate.quad`` over pieces around each mean (agrees with a fine trapezoid grid to
    ~1e-15).

    Limits: separation 0 → ½ d log 2πe (one Gaussian); separation → ∞ → log K + ½ d log 2πe.
    ``second_moment()`` = I + diag(mean of μ_k², 0, …).
    """

    version = "1"
    sample_kind = "continuous"

    components: int = 2
    separation: float = 4.0
    dim: int = 1

    def __post_init__(self):
        check_int(self, "components", 1)
        check_real(self, "separation", lambda s: s >= 0, ">= 0")
        check_int(self, "dim", 1)

    @property
    def means(self) -> np.ndarray:
        return (np.arange(self.components) - (self.components - 1) / 2) * self.separation

    def sample(self, n: int, seed: int) -> SampleSet:
        label_rng, noise_rng = task_rng(self, n, seed).spawn(2)
        labels = np.minimum((label_rng.random(n) * self.components).astype(np.int64), self.components - 1)
        x = noise_rng.standard_normal((n, self.dim))
        x[:, 0] += self.means[labels]
        return SampleSet("continuous", x)

    def truth(self, quantity: str) -> float | None:
        if quantity != "differential_entropy":
            return None
        return mixture_entropy_1d(self.means) + 0.5 * (self.dim - 1) * LOG_2PIE

    def second_moment(self) -> np.ndarray:
        moment = np.eye(self.dim)
        moment[0, 0] += float(np.mean(self.means**2))
        return moment


def mixture_entropy_1d(means: np.ndarray) -> float:
    """−∫ f log f for f(t) = (1/K) Σ_k φ(t − μ_k), by quad between breakpoints μ_k + {0, ±3, ±6, ±12}
    and the midpoints of neighbouring means (beyond ±12 the density is below e^-72)."""
    means = np.asarray(means, dtype=np.float64)

    def log_f(t: float) -> float:
        return special.logsumexp(-0.5 * (t - means) ** 2) - math.log(len(means)) - 0.5 * math.log(2 * math.pi)

    def integrand(t: float) -> float:
        lf = log_f(t)
        return -math.exp(lf) * lf

    offsets = np.array([-12.0, -6.0, -3.0, 0.0, 3.0, 6.0, 12.0])
    points = np.concatenate([np.add.outer(means, offsets).ravel(), (means[1:] + means[:-1]) / 2])
    points = np.unique(np.clip(points, means.min() - 12, means.max() + 12))
    pieces = zip(points[:-1], points[1:])
    return sum(integrate.quad(integrand, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)[0] for a, b in pieces)
