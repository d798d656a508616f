"""Image classification tasks of the classification track: splits, an out-of-distribution set,
label noise, and the tensors a model reads.

A task (``TASKS`` entry, an :class:`ImageTask`) gives, for a seed, the splits "train", "val"
(held out: temperature scaling and conformal calibration read it) and "test", and "ood": images
of other classes or another dataset, scored together with "test" (OOD detection is measured on
that mixed set). :meth:`ImageTask.tensors` turns a split's images into the float32 [N, C, H, W]
input of the model.

- ``digits``: scikit-learn's 8×8 digits, split by the seed (60/20/20, stratified); OOD:
  Fashion-MNIST shrunk to 8×8 (``ood: fashion_mnist``, as many test images as digits' test
  split, drawn by the seed) or the digits of the held-out classes (``ood: held_out_classes``:
  train on 0 … ``classes`` − 1, OOD = the rest). Pixels 0–16 → x / 16.
- ``cifar10`` / ``cifar100``: the official train set less its last ``val_size`` images ("val"),
  the official test set; OOD: the other CIFAR's test set. Normalised by the training set's
  per-channel mean and std (``tasks/image_data.py``). ``limit`` keeps the first ``limit`` images
  of every split (a quick look; tests). The seed does not change CIFAR's splits.

**Label noise** (:func:`noisy_labels`, training labels only; "val" and "test" stay clean), as in
the robust-loss papers (Zhang & Sabuncu 2018; Ma et al. 2020): ``symmetric`` moves each label,
with probability ``rate``, to one of the other K − 1 classes uniformly; ``asymmetric`` moves it,
with probability ``rate``, to the class the task names for it (:attr:`ImageTask.confusions`:
digits 7→1, 2→7, 5↔6, 3→8 as Ma et al.'s MNIST; CIFAR-10 truck→automobile, bird→airplane,
deer→horse, cat↔dog), other classes unchanged. Drawn from ``default_rng([seed, 7])``, a pure
function of the labels, the noise and the seed.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import numpy as np

from entropy_bench.methods.registry import Method, require, require_choice
from entropy_bench.tasks import image_data
from entropy_bench.tasks.base import TASKS, Task
from entropy_bench.tasks.image_data import LabelledImages

SPLITS = ("train", "val", "test", "ood")
NOISE_KINDS = ("none", "symmetric", "asymmetric")
NOISE_STREAM = 7  # the label-noise stream of a seed: default_rng([seed, NOISE_STREAM])
OOD_STREAM = 11  # the stream that draws digits' Fashion-MNIST OOD images


class ImageTask(Task, abc.ABC):
    """Labelled images in four splits (module docstring)."""

    num_classes: ClassVar[int]
    channels: ClassVar[int]
    side: ClassVar[int]
    confusions: ClassVar[dict[int, int]] = {}  # asymmetric label noise: class → the class it is mistaken for

    @abc.abstractmethod
    def labelled(self, seed: int) -> dict[str, LabelledImages]:
        """"train", "val" and "test" for ``seed`` (training reads only these)."""

    @abc.abstractmethod
    def ood_images(self, seed: int) -> LabelledImages:
        """The out-of-distribution images for ``seed`` (labels of their own dataset)."""

    def splits(self, seed: int) -> dict[str, LabelledImages]:
        """"train", "val", "test" and "ood" for ``seed``."""
        return {**self.labelled(seed), "ood": self.ood_images(seed)}

    @abc.abstractmethod
    def tensors(self, images: np.ndarray):
        """A split's images as the model's float32 input [N, C, H, W]."""


@dataclasses.dataclass(frozen=True)
class LabelNoise(Method):
    """Training-label noise: ``none``, ``symmetric(rate=…)`` or ``asymmetric(rate=…)``."""

    kind: str = "none"
    rate: float = 0.0

    def __post_init__(self):
        require_choice(self.kind, NOISE_KINDS, "label_noise", "kind")
        require(0.0 <= self.rate <= 1.0, "label_noise", "rate", f"must be in [0, 1], got {self.rate}")
        require((self.kind == "none") == (self.rate == 0.0), "label_noise", "rate",
                f"must be 0 for kind 'none' and > 0 otherwise, got {self.rate} for {self.kind!r}")

    @property
    def id(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}(rate={self.rate!r})"


def noisy_labels(labels: np.ndarray, noise: LabelNoise, task: ImageTask, seed: int) -> np.ndarray:
    """``labels`` with ``noise`` applied (module docstring); a new array."""
    labels = np.asarray(labels, dtype=np.int64)
    if noise.kind == "none":
        return labels.copy()
    rng = np.random.default_rng([seed, NOISE_STREAM])
    flip = rng.random(len(labels)) < noise.rate
    if noise.kind == "symmetric":
        shift = rng.integers(1, task.num_classes, len(labels))  # another class, uniformly
        return np.where(flip, (labels + shift) % task.num_classes, labels)
    require(bool(task.confusions), task.name, "label_noise", "this task defines no asymmetric confusions")
    target = np.array([task.confusions.get(c, c) for c in range(task.num_classes)])
    return np.where(flip, target[labels], labels)


@TASKS.register("digits", paper="Alpaydin & Kaynak (1998), UCI optical recognition of handwritten digits (scikit-learn)")
@dataclasses.dataclass(frozen=True)
class Digits(ImageTask):
    """scikit-learn's 8×8 digits; OOD: Fashion-MNIST at 8×8 or held-out classes (module docstring)."""

    ood: str = "fashion_mnist"
    classes: int = 8  # the known classes when ood = held_out_classes

    version: ClassVar[str] = "1"
    channels = 1
    side = 8
    confusions = {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}

    def __post_init__(self):
        require_choice(self.ood, ("fashion_mnist", "held_out_classes"), self.name, "ood")
        require(2 <= self.classes <= 9, self.name, "classes", f"must be in 2 … 9, got {self.classes}")

    @property
    def params(self):
        return {"ood": self.ood} | ({"classes": self.classes} if self.ood == "held_out_classes" else {})

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return self.classes if self.ood == "held_out_classes" else 10

    def labelled(self, seed: int) -> dict[str, LabelledImages]:
        if self.ood == "held_out_classes":
            splits = image_data.digits_held_out_classes(seed, self.classes)
            return {k: v for k, v in splits.items() if k != "ood"}
        return image_data.digits_splits(seed)

    def ood_images(self, seed: int) -> LabelledImages:
        if self.ood == "held_out_classes":
            return image_data.digits_held_out_classes(seed, self.classes)["ood"]
        fashion = image_data.fashion_mnist_8x8("test")
        n_test = len(self.labelled(seed)["test"].labels)
        pick = np.random.default_rng([seed, OOD_STREAM]).choice(len(fashion.labels), n_test, replace=False)
        return image_data.subset(fashion, np.sort(pick))

    def tensors(self, images: np.ndarray):
        import torch

        return torch.from_numpy(np.asarray(images, dtype=np.float32) / image_data.DIGITS_MAX)[:, None]


@dataclasses.dataclass(frozen=True)
class CifarTask(ImageTask):
    """CIFAR-10 or CIFAR-100 against the other as OOD (module docstring)."""

    val_size: int = 5000
    limit: int | None = None

    version: ClassVar[str] = "1"
    channels = 3
    side = image_data.SIDE
    dataset: ClassVar[str]
    ood_dataset: ClassVar[str]
    mean: ClassVar[tuple[float, ...]]
    std: ClassVar[tuple[float, ...]]

    def __post_init__(self):
        require(self.val_size >= 1, self.name, "val_size", f"must be >= 1, got {self.val_size}")
        require(self.limit is None or self.limit >= 1, self.name, "limit", f"must be >= 1, got {self.limit}")

    def labelled(self, seed: int) -> dict[str, LabelledImages]:
        train = image_data.load_cifar(self.dataset, "train")
        require(len(train.labels) > self.val_size, self.name, "val_size",
                f"{self.val_size} leaves no training images of {len(train.labels)}")
        cut = len(train.labels) - self.val_size
        out = {"train": image_data.subset(train, np.arange(cut)),
               "val": image_data.subset(train, np.arange(cut, len(train.labels))),
               "test": image_data.load_cifar(self.dataset, "test")}
        return {k: self._limited(v) for k, v in out.items()}

    def ood_images(self, seed: int) -> LabelledImages:
        return self._limited(image_data.load_cifar(self.ood_dataset, "test"))

    def _limited(self, data: LabelledImages) -> LabelledImages:
        return LabelledImages(data.images[:self.limit], data.labels[:self.limit])

    def tensors(self, images: np.ndarray):
        return image_data.preprocess(images, self.mean, self.std)


@TASKS.register("cifar10", paper="Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images",
                url="https://www.cs.toronto.edu/~kriz/cifar.html")
@dataclasses.dataclass(frozen=True)
class Cifar10(CifarTask):
    """CIFAR-10; OOD: CIFAR-100's test set."""

    dataset = "cifar10"
    ood_dataset = "cifar100"
    num_classes = 10
    mean, std = image_data.CIFAR10_MEAN, image_data.CIFAR10_STD
    confusions = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


@TASKS.register("cifar100", paper="Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images",
                url="https://www.cs.toronto.edu/~kriz/cifar.html")
@dataclasses.dataclass(frozen=True)
class Cifar100(CifarTask):
    """CIFAR-100 (fine labels); OOD: CIFAR-10's test set."""

    dataset = "cifar100"
    ood_dataset = "cifar10"
    num_classes = 100
    mean, std = image_data.CIFAR100_MEAN, image_data.CIFAR100_STD
