"""What every registered loss promises: registry entry, reductions, ignore_index, gradients, bad input.

The per-loss files check the values; this one runs the shared contract over all of them.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from entropy_bench.methods.registry import LOSSES, InvalidParameterError

C = 4

# name → (parameters, the extra inputs after (logits, targets), built from the logits)
CLASSIFICATION = {
    "cross_entropy": ({"label_smoothing": 0.1}, lambda z: ()),
    "focal": ({"gamma": 2.0}, lambda z: ()),
    "focal_sigmoid": ({"gamma": 1.5, "alpha": 0.25, "activation": "sigmoid"}, lambda z: ()),
    "poly1": ({"epsilon": 2.0}, lambda z: ()),
    "spherical_z_loss": ({"a": 1.5, "b": 0.5}, lambda z: ()),
    "logit_z_loss": ({"z_loss": 0.1}, lambda z: ()),
    "generalized_ce": ({"q": 0.7}, lambda z: ()),
    "mae": ({}, lambda z: ()),
    "nce_rce": ({"alpha": 1.0, "beta": 0.5}, lambda z: ()),
    "logit_clip": ({"tau": 1.0}, lambda z: ()),
    "confidence_penalty": ({"entropy_coef": 0.3}, lambda z: ()),
    "emo": ({}, lambda z: (torch.randn(z.shape[-1], 3, dtype=z.dtype, generator=torch.Generator().manual_seed(1)),)),
    "wasserstein_ordinal": ({}, lambda z: ()),
    "nkd": ({"temperature": 2.0, "gamma": 1.5}, lambda z: (torch.randn(z.shape, dtype=z.dtype, generator=torch.Generator().manual_seed(2)),)),
}


def build(case: str, **overrides):
    params, extra = CLASSIFICATION[case]
    return LOSSES.build(case.removesuffix("_sigmoid"), **{**params, **overrides}), extra


def inputs(rows: int = 5, dtype=torch.float64, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(rows, C, dtype=dtype, generator=generator)
    targets = torch.randint(0, C, (rows,), generator=generator)
    return logits, targets


def test_every_loss_is_registered_with_its_paper():
    expected = {name.removesuffix("_sigmoid") for name in CLASSIFICATION} | {
        "linear_cross_entropy", "kd_kl", "policy_gradient", "clip_cov", "kl_cov"}
    assert set(LOSSES.names()) == expected
    for entry in LOSSES.entries():
        assert entry.paper and entry.url.startswith("https://"), entry.name
        assert entry.summary, entry.name


@pytest.mark.parametrize("name", LOSSES.names())
def test_reduction_is_checked_with_a_suggestion(name):
    required = {"a": 1.0, "b": 1.0} if name == "spherical_z_loss" else {}
    with pytest.raises(InvalidParameterError, match="did you mean 'sum'") as err:
        LOSSES.build(name, reduction="summ", **required)
    assert err.value.field == "reduction"


def test_method_id_names_every_parameter():
    loss = LOSSES.build("focal", gamma=1.0)
    assert loss.id == "focal(activation=softmax,alpha=None,gamma=1.0,ignore_index=-100,reduction=mean)"
    with pytest.raises(InvalidParameterError, match="required") as err:
        LOSSES.build("spherical_z_loss", a=1.0)
    assert err.value.field == "b"


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_reductions_and_ignore_index(case):
    logits, targets = inputs(6)
    targets[[1, 4]] = -1
    loss, extra = build(case, ignore_index=-1, reduction="none")
    per_row = loss(logits, targets, *extra(logits))
    assert per_row.shape == targets.shape and per_row[[1, 4]].eq(0).all() and per_row.isfinite().all()
    kept = targets != -1
    # an ignored row is never read: changing its logits changes nothing
    logits2 = logits.clone()
    logits2[[1, 4]] = 100.0
    torch.testing.assert_close(loss(logits2, targets, *extra(logits)), per_row, rtol=0, atol=0)
    # the same rows alone give the same values
    more = [m[kept] if m.shape == logits.shape else m for m in extra(logits)]  # nkd's teacher rows
    alone = build(case, reduction="none")[0](logits[kept], targets[kept], *more)
    torch.testing.assert_close(per_row[kept], alone, rtol=1e-12, atol=1e-12)
    summed = build(case, ignore_index=-1, reduction="sum")[0](logits, targets, *extra(logits))
    mean = build(case, ignore_index=-1, reduction="mean")[0](logits, targets, *extra(logits))
    torch.testing.assert_close(summed, per_row.sum())
    torch.testing.assert_close(mean, per_row.sum() / kept.sum())


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_leading_dimensions_are_rows(case):
    logits, targets = inputs(6)
    loss, extra = build(case, reduction="none")
    flat = loss(logits, targets, *extra(logits))
    batched = loss(logits.view(2, 3, C), targets.view(2, 3), *extra(logits.view(2, 3, C)))
    torch.testing.assert_close(batched, flat.view(2, 3), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_all_rows_ignored_gives_the_nan_of_zero_over_zero(case):
    logits, _ = inputs(3)
    targets = torch.full((3,), -100)
    loss, extra = build(case)
    assert loss(logits, targets, *extra(logits)).isnan()
    assert build(case, reduction="sum")[0](logits, targets, *extra(logits)) == 0


@pytest.mark.parametrize("case", sorted(set(CLASSIFICATION) - {"emo"}))
def test_gradcheck_float64(case):
    logits, targets = inputs(5)
    targets[2] = -100
    loss, extra = build(case)
    more = extra(logits)
    assert torch.autograd.gradcheck(lambda z: loss(z, targets, *more), (logits.requires_grad_(),))


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_does_not_mutate_its_inputs(case):
    logits, targets = inputs(4)
    targets[0] = -100
    loss, extra = build(case)
    more = extra(logits)
    copies = [t.clone() for t in (logits, targets, *more)]
    loss(logits, targets, *more)
    for before, after in zip(copies, (logits, targets, *more)):
        assert torch.equal(before, after)


@pytest.mark.parametrize("case", CLASSIFICATION)
def test_nan_logits_propagate_to_their_row_and_the_mean(case):
    logits, targets = inputs(4)
    clean = build(case, reduction="none")[0](logits, targets, *build(case)[1](logits))
    logits[1, 2] = float("nan")
    loss, extra = build(case, reduction="none")
    per_row = loss(logits, targets, *extra(logits))
    assert per_row[1].isnan()
    torch.testing.assert_close(per_row[[0, 2, 3]], clean[[0, 2, 3]])
    assert build(case)[0](logits, targets, *extra(logits)).isnan()
    targets[1] = -100  # an ignored row's NaN is not read
    assert build(case)[0](logits, targets, *extra(logits)).isfinite()


BAD_INPUTS = {
    "target above the classes": (lambda z, y: (z, y.index_fill(0, torch.tensor([1]), C)), "targets", r"\[0, 4\).*got 4"),
    "negative target": (lambda z, y: (z, y.index_fill(0, torch.tensor([0]), -3)), "targets", "got -3"),
    "float targets": (lambda z, y: (z, y.double()), "targets", "integer"),
    "targets of another length": (lambda z, y: (z, y[:-1]), "targets", r"shape.*\(5,\)"),
    "one class": (lambda z, y: (z[:, :1], y.zero_()), "logits", "C >= 2"),
    "empty batch": (lambda z, y: (z[:0], y[:0]), "logits", "empty batch"),
    "integer logits": (lambda z, y: (z.long(), y), "logits", "floating-point"),
    "not a tensor": (lambda z, y: (z.tolist(), y), "logits", "floating-point"),
}


@pytest.mark.parametrize("bad", BAD_INPUTS)
@pytest.mark.parametrize("case", CLASSIFICATION)
def test_bad_input_is_refused_naming_the_argument(case, bad):
    make, field, message = BAD_INPUTS[bad]
    logits, targets = inputs(5)
    loss, extra = build(case)
    more = extra(logits)
    with pytest.raises(InvalidParameterError, match=message) as err:
        loss(*make(logits, targets), *more)
    assert err.value.field == field and err.value.owner == loss.name


def test_second_inputs_are_checked():
    logits, targets = inputs(5)
    with pytest.raises(InvalidParameterError, match="V = 4") as err:
        LOSSES.build("emo")(logits, targets, torch.randn(5, 3, dtype=torch.float64))
    assert err.value.field == "embeddings"
    for name, call in [("nkd", lambda loss, teacher: loss(logits, targets, teacher)),
                       ("kd_kl", lambda loss, teacher: loss(logits, teacher))]:
        with pytest.raises(InvalidParameterError, match=r"shape of logits \(5, 4\)") as err:
            call(LOSSES.build(name), logits[:, :3])
        assert err.value.field == "teacher_logits"


def test_kd_kl_contract():
    logits, _ = inputs(5)
    teacher = inputs(5, seed=3)[0]
    loss = LOSSES.build("kd_kl", temperature=2.0)
    assert torch.autograd.gradcheck(loss, (logits.requires_grad_(), teacher.requires_grad_()))
    per_row = LOSSES.build("kd_kl", temperature=2.0, reduction="none")(logits, teacher)
    torch.testing.assert_close(LOSSES.build("kd_kl", temperature=2.0, reduction="sum")(logits, teacher), per_row.sum())
    torch.testing.assert_close(loss(logits, teacher), per_row.mean())
    with pytest.raises(InvalidParameterError) as err:
        loss(logits[:0], teacher[:0])
    assert err.value.field == "logits"
    poisoned = logits.detach().clone()
    poisoned[0, 0] = float("nan")
    assert LOSSES.build("kd_kl", reduction="none")(poisoned, teacher)[0].isnan()


def test_parameters_outside_their_domain_name_the_field():
    cases = [("cross_entropy", {"label_smoothing": 1.5}), ("focal", {"gamma": -1.0}),
             ("focal", {"alpha": 0.25}), ("focal", {"activation": "softplus"}),
             ("focal", {"activation": "sigmoid", "alpha": 2.0}), ("poly1", {"epsilon": -2.0}),
             ("spherical_z_loss", {"a": 0.0, "b": 1.0}), ("logit_z_loss", {"z_loss": -1.0}),
             ("generalized_ce", {"q": 0.0}), ("generalized_ce", {"q": 1.5}),
             ("nce_rce", {"alpha": -1.0}), ("nce_rce", {"label_clip": 1.0}),
             ("logit_clip", {"tau": 0.0}), ("confidence_penalty", {"entropy_coef": -0.1}),
             ("kd_kl", {"temperature": 0.0}), ("nkd", {"gamma": -1.0}),
             ("policy_gradient", {"entropy_coef": -1.0}), ("clip_cov", {"clip_cov_ratio": 0.0}),
             ("clip_cov", {"clip_ratio_low": 1.0}), ("kl_cov", {"kl_cov_ratio": 2.0}),
             ("kl_cov", {"kl_coef": -1.0})]
    for name, params in cases:
        with pytest.raises(InvalidParameterError) as err:
            LOSSES.build(name, **params)
        assert err.value.field in params, (name, params)
    with pytest.raises(InvalidParameterError) as err:
        LOSSES.build("nce_rce", alpha=0.0, beta=0.0)
    assert err.value.field == "beta"
    with pytest.raises(InvalidParameterError) as err:
        LOSSES.build("clip_cov", clip_cov_lb=5.0, clip_cov_ub=1.0)
    assert err.value.field == "clip_cov_ub"


def test_entries_are_frozen_dataclasses():
    for entry in LOSSES.entries():
        assert dataclasses.is_dataclass(entry.factory) and entry.factory.__dataclass_params__.frozen
