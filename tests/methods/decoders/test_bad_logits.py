"""The bad-logits policy (methods/decoders/bad_logits.py): every decoder and the generation loop
refuse NaN, +inf and all −inf rows with an error naming the rows, and accept −inf entries."""

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropy_bench.generation import generate
from entropy_bench.methods.decoders.bad_logits import BadLogitsError, check_logits
from entropy_bench.methods.registry import DECODERS


@st.composite
def bad_rows(draw):
    """A [B, V] batch with one kind of bad row (or bad entry) at random positions."""
    rows, vocab = draw(st.integers(1, 5)), draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3
    kind = draw(st.sampled_from(["NaN", "+inf", "every logit -inf"]))
    bad = sorted(set(draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=rows))))
    for row in bad:
        if kind == "every logit -inf":
            logits[row] = -math.inf
        else:
            cols = draw(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=vocab))
            logits[row, cols] = math.nan if kind == "NaN" else math.inf
    return logits.float(), kind, bad


# ``decoder`` runs over every registered decoder and its example parameters (conftest.py).


@settings(max_examples=40, deadline=None)
@given(case=bad_rows())
def test_every_decoder_refuses_bad_rows_and_names_them(decoder, case):
    logits, kind, bad = case
    before = logits.clone()
    with pytest.raises(BadLogitsError, match=re.escape(kind) + r".*rows \[" + ", ".join(map(str, bad[:8]))):
        decoder(logits, decoder.init_state(logits.shape[0], logits.device))
    assert torch.equal(logits.nan_to_num(), before.nan_to_num())  # not mutated, not repaired


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), masked=st.floats(0.0, 0.9))
def test_minus_inf_entries_with_a_finite_logit_left_are_legal(decoder, seed, masked):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 30, generator=g) * 2
    logits[torch.rand(3, 30, generator=g) < masked] = -math.inf
    logits[:, 0] = logits[:, 0].nan_to_num(neginf=0.0)  # every row keeps a finite logit
    warped, _ = decoder(logits, decoder.init_state(3, logits.device))
    assert bool(torch.isfinite(warped).any(dim=-1).all())


def test_check_logits_lists_every_problem():
    logits = torch.zeros(4, 3)
    logits[1, 2], logits[2, 0], logits[3] = math.nan, math.inf, -math.inf
    with pytest.raises(BadLogitsError) as err:
        check_logits(logits, "here")
    assert str(err.value) == (
        "here: bad logits: NaN in rows [1] (1 rows); +inf in rows [2] (1 rows); every logit -inf in rows [3] (1 rows)"
    )
    check_logits(torch.tensor([[0.0, -math.inf]]), "fine")  # no error


class NaNAfter:
    """Wraps a model's forward so that its logits turn NaN from the ``after``-th call on."""

    def __init__(self, model, after: int):
        self.forward, self.after, self.calls = model.forward, after, 0

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        self.calls += 1
        if self.calls > self.after:
            out.logits[:, -1, 3] = math.nan
        return out


def test_the_generation_loop_stops_at_the_step_that_emits_nan(tiny_model_dir):
    from entropy_bench.models.hf import load_model

    lm = load_model(str(tiny_model_dir))
    lm.model.forward = NaNAfter(lm.model, after=2)
    with pytest.raises(BadLogitsError, match=r"at step 2: bad logits: NaN in rows \[0, 1\]"):
        generate(lm, ["1 + 2 =", "4 - 1 ="], DECODERS.build("greedy"), seeds=[0, 1], max_new_tokens=5)


def test_a_sweep_whose_model_emits_nan_stops_naming_cell_and_step_with_no_finished_run(tiny_model_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    from entropy_bench import sweep
    from entropy_bench.models.hf import load_model
    from entropy_bench.models.pool import Models
    from entropy_bench.runner import CellError, run_sweep

    def nan_model(name):
        lm = load_model(name)
        lm.model.forward = NaNAfter(lm.model, after=1)
        return lm

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    spec = sweep.parse({"name": "tiny", "models": [str(tiny_model_dir)], "decoders": ["greedy"],
                        "tasks": [{"name": "arithmetic", "limit": 4, "max_new_tokens": 4, "num_fewshot": 0}]})
    # no few-shot context: the prefill is one forward call (a shared context would be a second)
    with pytest.raises(CellError, match=r"cell arithmetic/greedy/seed=0 failed: model .* at step 1: bad logits: NaN"):
        run_sweep(spec, tracking_uri=uri, cache_dir=tmp_path / "cache", resources={"models": Models(nan_model)},
                  progress=False)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert [r.info.status for r in runs if "mlflow.parentRunId" in r.data.tags] == ["FAILED"]

