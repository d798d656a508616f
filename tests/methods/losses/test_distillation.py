"""kd_kl and nkd: T²·KL by hand and against F.kl_div; NKD's target and renormalised non-target parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, softmax

from entropy_bench.methods.registry import LOSSES

STUDENT = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
TEACHER = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
TARGETS = np.array([0, 1])


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_kd_kl_is_t_squared_kl_by_hand(temperature):
    log_q = log_softmax(STUDENT / temperature, axis=-1)
    log_p = log_softmax(TEACHER / temperature, axis=-1)
    expected = temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)
    loss = LOSSES.build("kd_kl", temperature=temperature, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(STUDENT), torch.tensor(TEACHER)).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 4.0])
def test_kd_kl_matches_torch_kl_div(temperature):
    generator = torch.Generator().manual_seed(0)
    student = 3 * torch.randn(8, 6, generator=generator)
    teacher = 3 * torch.randn(8, 6, generator=generator)
    expected = temperature**2 * F.kl_div((student / temperature).log_softmax(-1), (teacher / temperature).log_softmax(-1),
                                         reduction="batchmean", log_target=True)
    torch.testing.assert_close(LOSSES.build("kd_kl", temperature=temperature)(student, teacher), expected,
                               rtol=1e-6, atol=1e-6)


def test_kd_kl_is_zero_when_the_student_is_the_teacher_up_to_a_shift():
    teacher = torch.tensor(TEACHER)
    assert LOSSES.build("kd_kl")(teacher + 5.0, teacher).abs().item() < 1e-15


def reference_nkd(student, teacher, targets, temperature, gamma):
    """NKD from its formula, numpy: the non-target columns dropped, then softmax over the rest."""
    rows = np.arange(len(targets))
    target_part = -softmax(teacher, axis=-1)[rows, targets] * log_softmax(student, axis=-1)[rows, targets]
    others = ~np.eye(student.shape[-1], dtype=bool)[targets]
    s = student[others].reshape(len(targets), -1) / temperature
    t = teacher[others].reshape(len(targets), -1) / temperature
    non_target = -gamma * temperature**2 * (softmax(t, axis=-1) * log_softmax(s, axis=-1)).sum(-1)
    return target_part + non_target


@pytest.mark.parametrize(("temperature", "gamma"), [(1.0, 1.5), (2.0, 1.0), (1.0, 0.0)])
def test_nkd_hand_computed(temperature, gamma):
    expected = reference_nkd(STUDENT, TEACHER, TARGETS, temperature, gamma)
    loss = LOSSES.build("nkd", temperature=temperature, gamma=gamma, reduction="none")
    np.testing.assert_allclose(loss(torch.tensor(STUDENT), torch.tensor(TARGETS), torch.tensor(TEACHER)).numpy(),
                               expected, rtol=1e-12)


def test_nkd_non_target_part_ignores_the_target_logit():
    # the non-target distributions are renormalised, so moving the target logits changes only the target part
    loss = LOSSES.build("nkd", reduction="none")
    student, teacher, targets = torch.tensor(STUDENT), torch.tensor(TEACHER), torch.tensor(TARGETS)
    moved = student.clone()
    moved[[0, 1], targets] += 3.0
    target_part = lambda z: -(teacher.softmax(-1) * z.log_softmax(-1)).gather(-1, targets[:, None]).squeeze(-1)
    torch.testing.assert_close(loss(moved, targets, teacher) - target_part(moved),
                               loss(student, targets, teacher) - target_part(student))


def test_nkd_with_two_classes_is_the_target_part_alone():
    student, teacher = torch.tensor(STUDENT[:, :2]), torch.tensor(TEACHER[:, :2])
    targets = torch.tensor([0, 1])
    expected = -(teacher.softmax(-1) * student.log_softmax(-1)).gather(-1, targets[:, None]).squeeze(-1)
    torch.testing.assert_close(LOSSES.build("nkd", reduction="none")(student, targets, teacher), expected)
