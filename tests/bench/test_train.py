"""The trainer: seeded (same weights twice), resumable (a run stopped mid-epoch ends with the
weights of an uninterrupted one), augmentation and label noise as their formulas say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entropy_bench.cache import Cache
from entropy_bench.methods.registry import LOSSES, InvalidParameterError
from entropy_bench.tasks.base import TASKS
from entropy_bench.tasks.image_tasks import LabelNoise, noisy_labels
from entropy_bench.train import Schedule, TrainConfig, augment, cosine_lr, mc_logits, seed_of, train

SCHEDULE = Schedule(epochs=2, batch_size=128, lr=0.05, checkpoint_every=5)  # 1078 images: 9 steps per epoch


def config(seed: int = 0, member: int = 0, **schedule) -> TrainConfig:
    task = TASKS.build("digits")  # training reads only its labelled splits
    return TrainConfig(task, "small_cnn", 0.3, LOSSES.build("cross_entropy"), LabelNoise(),
                       Schedule(**{**SCHEDULE.__dict__, **schedule}), seed, member)


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [v.detach().clone() for v in model.state_dict().values()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


class Stop(Exception):
    pass


def stop_at(step: int):
    def hook(s: int) -> None:
        if s == step:
            raise Stop

    return hook


def test_same_seed_same_weights_and_other_seeds_differ(tmp_path):
    before = torch.get_rng_state()
    first = weights(train(config(), Cache(tmp_path / "a"), progress=False))
    assert torch.equal(torch.get_rng_state(), before)  # the caller's generator is untouched
    assert same(first, weights(train(config(), Cache(tmp_path / "b"), progress=False)))
    assert not same(first, weights(train(config(seed=1), Cache(tmp_path / "c"), progress=False)))
    assert not same(first, weights(train(config(member=1), Cache(tmp_path / "d"), progress=False)))


@pytest.mark.parametrize("stop", [3, 7, 11])  # before the first checkpoint, after it, in the second epoch
def test_stopped_mid_epoch_resumes_from_the_last_checkpoint(tmp_path, stop):
    whole = weights(train(config(), Cache(tmp_path / "whole"), progress=False))
    cache = Cache(tmp_path / "stopped")
    with pytest.raises(Stop):
        train(config(), cache, progress=False, on_step=stop_at(stop))
    saved = cache.get("checkpoint", config().key)
    last = max([s for s in (5, 9, 10) if s <= stop + 1], default=0)  # every 5 steps and each epoch's end (9)
    assert (saved["step"] if saved else 0) == last
    steps = []
    resumed = train(config(), cache, progress=False, on_step=steps.append)
    assert steps == list(range(last, 18))  # only the steps after the checkpoint were trained again
    assert same(whole, weights(resumed))
    assert cache.get("checkpoint", config().key) is None and cache.get("model", config().key) is not None


def test_a_finished_config_is_not_trained_again(tmp_path):
    cache = Cache(tmp_path)
    first = weights(train(config(), cache, progress=False))
    steps = []
    assert same(first, weights(train(config(), cache, progress=False, on_step=steps.append)))
    assert steps == []


def test_the_key_names_everything_that_changes_the_weights():
    keys = {config().key, config(seed=1).key, config(member=1).key, config(lr=0.1).key, config(augment=True).key,
            TrainConfig(**{**config().__dict__, "noise": LabelNoise("symmetric", 0.4)}).key,
            TrainConfig(**{**config().__dict__, "loss": LOSSES.build("focal", gamma=2.0)}).key,
            TrainConfig(**{**config().__dict__, "dropout": 0.1}).key}
    assert len(keys) == 8


def test_cosine_schedule():
    assert cosine_lr(0.1, 0, 10) == 0.1
    assert cosine_lr(0.1, 5, 10) == pytest.approx(0.05)
    assert cosine_lr(0.1, 10, 10) == pytest.approx(0.0)


def test_seed_of_is_stable_and_distinct():
    assert seed_of(0, 0) == seed_of(0, 0) and len({seed_of(0, 0), seed_of(0, 1), seed_of(1, 0)}) == 3
    assert 0 <= seed_of(3, 4) < 2**63


def test_augment_is_a_flip_then_a_crop_of_the_zero_padded_image():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3) + 1
    out = augment(x, np.array([True, False]), np.array([[4, 4], [0, 8]]))
    np.testing.assert_array_equal(out[0, 0], x[0, 0].flip(1))  # offset (4, 4) = the image itself
    expected = np.zeros((3, 3), dtype=np.float32)  # offset (0, 8): rows −4…−2, columns 4…6: all padding
    np.testing.assert_array_equal(out[1, 0], expected)
    shifted = augment(x, np.array([False, False]), np.array([[3, 5], [5, 3]]))
    np.testing.assert_array_equal(shifted[0, 0], [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    np.testing.assert_array_equal(shifted[1, 0], [[0, 13, 14], [0, 16, 17], [0, 0, 0]])


def test_mc_dropout_passes_are_seeded_and_differ_from_each_other(tmp_path):
    model = train(config(), Cache(tmp_path), progress=False)
    x = torch.rand(5, 1, 8, 8)
    a, b = mc_logits(model, x, 4, seed=1), mc_logits(model, x, 4, seed=1)
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    assert not model.training


def test_symmetric_noise_flips_the_rate_to_other_classes_uniformly():
    task = TASKS.build("digits")
    labels = np.repeat(np.arange(10), 2000)
    noisy = noisy_labels(labels, LabelNoise("symmetric", 0.4), task, seed=0)
    flipped = noisy != labels
    assert abs(flipped.mean() - 0.4) < 4 * np.sqrt(0.4 * 0.6 / len(labels))  # a binomial count
    moved = np.bincount((noisy[flipped] - labels[flipped]) % 10, minlength=10)
    assert moved[0] == 0  # never to its own class
    expected = flipped.sum() / 9
    assert np.all(np.abs(moved[1:] - expected) < 5 * np.sqrt(expected))
    np.testing.assert_array_equal(noisy, noisy_labels(labels, LabelNoise("symmetric", 0.4), task, seed=0))


def test_asymmetric_noise_follows_the_confusions():
    task = TASKS.build("digits")
    labels = np.repeat(np.arange(10), 1000)
    noisy = noisy_labels(labels, LabelNoise("asymmetric", 0.3), task, seed=1)
    for source in range(10):
        mine = noisy[labels == source]
        if source in task.confusions:
            assert set(np.unique(mine)) == {source, task.confusions[source]}
            assert abs(np.mean(mine != source) - 0.3) < 0.06
        else:
            assert np.all(mine == source)


@pytest.mark.parametrize("kind, rate, field", [("uniform", 0.2, "kind"), ("symmetric", 1.5, "rate"),
                                               ("symmetric", 0.0, "rate"), ("none", 0.2, "rate")])
def test_invalid_noise_names_the_field(kind, rate, field):
    with pytest.raises(InvalidParameterError, match=repr(field)):
        LabelNoise(kind, rate)
