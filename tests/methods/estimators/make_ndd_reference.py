"""Write ``data/ndd_reference.json``: the peer package ndd's entropy estimates on fixed count vectors.

Run it with an interpreter that has ndd (pip name ``ndd``, 1.10.6), not the project's venv:
ndd's sdist builds a Fortran extension with ``numpy.distutils``, so it needs gfortran, NumPy
< 1.26 and setuptools < 60 in its own environment::

    apt-get install -y gfortran
    python3.11 -m venv /tmp/ndd-venv
    /tmp/ndd-venv/bin/pip install "numpy<1.26" "setuptools<60" wheel
    /tmp/ndd-venv/bin/pip install --no-build-isolation ndd==1.10.6
    /tmp/ndd-venv/bin/python tests/methods/estimators/make_ndd_reference.py

Each case is a multinomial sample of n draws from a Zipf (p_i ∝ 1/i) or a symmetric
Dirichlet(a) distribution on K symbols; it is stored as the histogram of its nonzero counts
(count value → number of symbols with that count) with K. For each, the file holds
``ndd.entropy(counts, k=K)`` (NSB, the posterior mean) and its posterior standard deviation,
and ndd's Plugin, MillerMadow and Grassberger estimates.
"""

from __future__ import annotations

import json
from pathlib import Path

import ndd
import numpy as np

OUT = Path(__file__).parent / "data" / "ndd_reference.json"

ZIPF_GRID = [(k, n) for k in (10, 100, 1000, 10000) for n in (10, 100, 1000, 100000)]
DIRICHLET = [(10, 30, 1.0), (100, 50, 0.1), (1000, 200, 0.5), (10000, 1000, 0.02), (10000, 100000, 1.0), (100, 100000, 0.05)]


def zipf(k: int) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def histogram(counts: np.ndarray) -> dict:
    values, symbols = np.unique(counts[counts > 0], return_counts=True)
    return {"values": values.tolist(), "symbols": symbols.tolist()}


def case(label: str, k: int, counts: np.ndarray) -> dict:
    observed = counts[counts > 0].tolist()
    nsb, nsb_std = ndd.entropy(observed, k=k, return_std=True)
    return {
        "label": label,
        "K": k,
        "n": int(counts.sum()),
        "counts": histogram(counts),
        "nsb": float(nsb),
        "nsb_std": float(nsb_std),
        "plugin": float(ndd.entropy(observed, estimator="Plugin")),
        "miller_madow": float(ndd.entropy(observed, estimator="MillerMadow")),
        "grassberger": float(ndd.entropy(observed, estimator="Grassberger")),
    }


def main() -> None:
    rng = np.random.default_rng(20240601)
    cases = []
    for k, n in ZIPF_GRID:
        cases.append(case(f"zipf(K={k}, n={n})", k, rng.multinomial(n, zipf(k))))
    for k, n, a in DIRICHLET:
        p = rng.dirichlet(np.full(k, a))
        cases.append(case(f"dirichlet(K={k}, a={a}, n={n})", k, rng.multinomial(n, p)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"ndd_version": ndd.__version__, "numpy_version": np.__version__})
    lines = ",\n  ".join(json.dumps(c) for c in cases)  # one case a line
    OUT.write_text(header[:-1] + ', "cases": [\n  ' + lines + "\n]}\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
