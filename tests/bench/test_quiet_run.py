"""A sweep run warns about nothing we do: no deprecation or future warning raised by our code or
by the libraries we call for how we call them (transformers renamed ``past_key_values`` to
``cache``; the generation loop passes the name the installed version takes). Warnings that
MLflow's own internals raise (its SQLAlchemy use) are not ours and are not checked."""

from __future__ import annotations

import warnings
from pathlib import Path

import entropy_bench
import torch
import transformers

from entropy_bench import sweep
from entropy_bench.runner import run_sweep

from sweep_fixtures import tiny_sweep

OURS = tuple(str(Path(m.__file__).parent) for m in (entropy_bench, transformers, torch))


def test_a_sweep_run_raises_no_deprecation_warning_from_our_calls(tiny_model_dir, tmp_path):
    spec = tiny_sweep(tiny_model_dir, limit=3, n_samples=2,
                      uncertainty=["max_sequence_prob", "pointwise_mutual_information", "eigen_score"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_sweep(sweep.parse(spec), tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}", cache_dir=tmp_path / "cache",
                  progress=False)
    ours = [f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}" for w in caught
            if issubclass(w.category, (DeprecationWarning, FutureWarning)) and w.filename.startswith(OURS)]
    assert not ours, "\n".join(ours)
