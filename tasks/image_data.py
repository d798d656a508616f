"""Image data for the classification track: CIFAR-10/100, the first 100 CIFAR-10 test images
(a CSV), and two offline 8×8 stand-ins, scikit-learn's digits and Fashion-MNIST downsampled.

Every loader returns :class:`LabelledImages`: ``images`` uint8 [N, H, W, C] (CIFAR, HWC, RGB)
or float64 [N, 8, 8] (the 8×8 sets, values 0–16), and ``labels`` int64 [N].

**CIFAR** (Krizhevsky, 2009): one function, :func:`cifar_source`, picks the source. If
``$BENCH_DATA_DIR/cifar-10-batches-py/`` (``cifar-100-python/`` for CIFAR-100) exists, the
official python-pickle batches there: each a dict with ``b"data"`` uint8 [N, 3072] (each row
the R plane, then G, then B, each 32×32 row-major) and ``b"labels"`` (CIFAR-100:
``b"fine_labels"`` and ``b"coarse_labels"``), read with ``encoding="bytes"`` by an unpickler
that builds numpy arrays only (a data file runs no code). Otherwise the hub datasets
``uoft-cs/cifar10`` (columns ``img``, ``label``) and ``uoft-cs/cifar100`` (``img``,
``fine_label``, ``coarse_label``) through ``datasets.load_dataset``, images decoded by PIL.

**The 8×8 pair** for out-of-distribution (OOD) detection: digits (1797 images, 10 classes,
each pixel a count 0–16 of ink in a 4×4 block) against Fashion-MNIST (Xiao et al., 2017)
shrunk to 8×8 by :func:`downsample` and rescaled to 0–16 (:func:`fashion_mnist_8x8`); and
digits with held-out classes (:func:`digits_held_out_classes`: train on 0–7, OOD = 8–9).
Fashion-MNIST is read from Debian's ``dataset-fashion-mnist`` package (IDX files) or
``$BENCH_DATA_DIR/fashion-mnist/``.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import pickle
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from entropy_bench.methods.registry import require_choice
from entropy_bench.tasks.base import DataFileError, data_dir, quiet_datasets

# Per-channel pixel mean and standard deviation over the 50,000 training images, scaled to [0, 1]
# (fb.resnet.torch's 125.3/123.0/113.9 and 63.0/62.1/66.7 over 255; recomputed in
# akamaster/pytorch_resnet_cifar10 issue #9). Not the often-copied std (0.2023, 0.1994, 0.2010):
# that is the mean of per-image stds (kuangliu/pytorch-cifar issue #129).
CIFAR10_MEAN = (0.49139968, 0.48215841, 0.44653091)
CIFAR10_STD = (0.24703223, 0.24348513, 0.26158784)
# The same statistics of CIFAR-100's training images (weiaicunzai/pytorch-cifar100, global_settings.py).
CIFAR100_MEAN = (0.5070751592371323, 0.48654887331495095, 0.4409178433670343)
CIFAR100_STD = (0.2673342858792401, 0.2564384629170883, 0.27615047132568404)

SIDE = 32  # CIFAR images are SIDE × SIDE × 3
CSV_FIELDS = ("label", "3072 pixel values 0-255 (32x32 pixels row-major, R,G,B per pixel)")
SPLITS = ("train", "test")


class LabelledImages(NamedTuple):
    images: np.ndarray  # [N, H, W, C] uint8 or [N, H, W] float64
    labels: np.ndarray  # [N] int64


@dataclasses.dataclass(frozen=True)
class Cifar:
    """Where one CIFAR dataset lives: its pickle directory and files, its hub dataset, and its
    label kinds, each named by its hub column and mapped to its pickle key (the first is the default)."""

    pickle_dir: str
    pickle_files: dict[str, tuple[str, ...]]
    hub_path: str
    labels: dict[str, bytes]


CIFAR = {
    "cifar10": Cifar(
        "cifar-10-batches-py",
        {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        "uoft-cs/cifar10",
        {"label": b"labels"},
    ),
    "cifar100": Cifar(
        "cifar-100-python",
        {"train": ("train",), "test": ("test",)},
        "uoft-cs/cifar100",
        {"fine_label": b"fine_labels", "coarse_label": b"coarse_labels"},
    ),
}

# What a CIFAR pickle may name: numpy arrays (as numpy 1 and 2 pickle them) and, in files that
# Python 3 wrote at protocol 2, bytes (rebuilt by ``_codecs.encode``).
PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ArrayUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`PICKLE_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR batch does not")
        return super().find_class(module, name)


# --- CIFAR ------------------------------------------------------------------------------------


def cifar_source(name: str) -> Path | str:
    """The source of CIFAR dataset ``name``: the pickle directory ``$BENCH_DATA_DIR/<pickle_dir>``
    if it exists, else the hub dataset id."""
    require_choice(name, tuple(CIFAR), "cifar", "name")
    root = data_dir()
    local = root / CIFAR[name].pickle_dir if root is not None else None
    return local if local is not None and local.is_dir() else CIFAR[name].hub_path


def load_cifar(name: str, split: str, label: str | None = None) -> LabelledImages:
    """All images of ``split`` ("train" or "test") of ``name`` ("cifar10" or "cifar100") in
    dataset order, uint8 [N, 32, 32, 3] RGB, with the labels named ``label`` (a hub column:
    "label"; CIFAR-100 "fine_label" (default) or "coarse_label"), from :func:`cifar_source`."""
    require_choice(name, tuple(CIFAR), "cifar", "name")
    require_choice(split, SPLITS, name, "split")
    spec = CIFAR[name]
    label = label or next(iter(spec.labels))
    require_choice(label, tuple(spec.labels), name, "label")
    source = cifar_source(name)
    if isinstance(source, Path):
        parts = [read_cifar_pickle(source / f, spec.labels[label]) for f in spec.pickle_files[split]]
        return LabelledImages(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))
    return read_cifar_hub(source, split, label)


def read_cifar_pickle(path: Path, label_key: bytes) -> LabelledImages:
    """One official CIFAR python batch (``b"data"`` uint8 [N, 3072], planes R, G, B, each 32×32
    row-major; labels under ``label_key``) as uint8 [N, 32, 32, 3] and int64 [N];
    :class:`DataFileError` names the file and the keys when it is missing or malformed."""
    fields = ("data", label_key.decode())
    try:
        with open(path, "rb") as f:
            batch = ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError as err:
        raise DataFileError(str(path), fields, "not found") from err
    except Exception as err:  # unpickling a malformed file raises errors of many kinds
        raise DataFileError(str(path), fields, f"not a CIFAR python pickle ({err})") from err
    missing = [f for f in fields if not isinstance(batch, dict) or f.encode() not in batch]
    if missing:
        raise DataFileError(str(path), fields, f"has no {', '.join(missing)}")
    data, labels = batch[b"data"], np.asarray(batch[label_key])
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape[1:] == (3 * SIDE * SIDE,)):
        raise DataFileError(str(path), fields, f"data is not uint8 [N, 3072]: {getattr(data, 'shape', type(data))}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise DataFileError(str(path), fields, f"{len(data)} images but labels of shape {labels.shape}")
    return LabelledImages(data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1).copy(), labels.astype(np.int64))


def read_cifar_hub(path: str, split: str, label: str) -> LabelledImages:
    """``split`` of the hub dataset ``path`` (columns ``img``, ``label``) through
    ``datasets.load_dataset(path, split=split)``, each image converted to RGB by PIL;
    ``ConnectionError`` when the hub is unreachable (``path`` a hub id),
    :class:`DataFileError` when the source or a column is missing or an image is not 32×32."""
    import datasets  # heavy; imported only when data is actually loaded

    from entropy_bench.hub import hub_reachable

    fields = ("img", label)
    if not Path(path).is_dir() and not hub_reachable():
        raise ConnectionError(f"the hub is unreachable and $BENCH_DATA_DIR holds no pickles: cannot load {path}")
    try:
        with quiet_datasets():
            rows = datasets.load_dataset(path, split=split)
    except FileNotFoundError as err:
        raise DataFileError(path, fields, "not found") from err
    missing = [f for f in fields if f not in rows.column_names]
    if missing:
        raise DataFileError(path, fields, f"has no column {', '.join(missing)}")
    images = np.stack([np.asarray(image.convert("RGB")) for image in rows["img"]])
    if images.shape[1:] != (SIDE, SIDE, 3):
        raise DataFileError(path, fields, f"images of shape {images.shape[1:]}, not 32x32x3")
    return LabelledImages(images, np.asarray(rows[label], dtype=np.int64))


def read_cifar10_csv(path: Path) -> LabelledImages:
    """A CSV of CIFAR-10 images, one per line: the label, then 32×32×3 pixel values 0–255 in
    row-major HWC order (R, G, B per pixel), no header (``shared/data/cifar10/test_first100.csv``,
    see its SOURCES.md); :class:`DataFileError` names the file when it is missing or malformed."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except FileNotFoundError as err:
        raise DataFileError(str(path), CSV_FIELDS, "not found") from err
    except ValueError as err:
        raise DataFileError(str(path), CSV_FIELDS, f"not a table of integers ({err})") from err
    if table.shape[1] != 1 + 3 * SIDE * SIDE:
        raise DataFileError(str(path), CSV_FIELDS, f"has {table.shape[1]} values a row, not 3073")
    if table.min() < 0 or table[:, 1:].max() > 255 or table[:, 0].max() > 9:
        raise DataFileError(str(path), CSV_FIELDS, "has a label outside 0-9 or a pixel outside 0-255")
    return LabelledImages(table[:, 1:].astype(np.uint8).reshape(-1, SIDE, SIDE, 3), table[:, 0])


def cifar10_test_first100() -> LabelledImages:
    """The first 100 CIFAR-10 test images: ``$BENCH_DATA_DIR/cifar10/test_first100.csv``."""
    root = data_dir()
    if root is None:
        raise DataFileError("$BENCH_DATA_DIR/cifar10/test_first100.csv", CSV_FIELDS, "BENCH_DATA_DIR is not set")
    return read_cifar10_csv(root / "cifar10" / "test_first100.csv")


def preprocess(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]):
    """uint8 [N, H, W, C] images as a float32 tensor [N, C, H, W] of (x / 255 − mean_c) / std_c
    (e.g. :data:`CIFAR10_MEAN`, :data:`CIFAR10_STD`); ``images`` is left unchanged."""
    import torch

    if images.dtype != np.uint8 or images.ndim != 4 or not images.shape[3] == len(mean) == len(std):
        raise ValueError(f"expected uint8 [N, H, W, {len(mean)}] images, got {images.dtype} {images.shape}")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 255
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


# --- the 8×8 stand-ins ----------------------------------------------------------------------

DIGITS_MAX = 16  # a digits pixel counts the ink pixels of a 4×4 block of a 32×32 bitmap
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_digits() -> LabelledImages:
    """scikit-learn's bundled digits (UCI optical digits, test part): float64 [1797, 8, 8], 0–16."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return LabelledImages(bunch.images, bunch.target.astype(np.int64))


def stratified_splits(labels: np.ndarray, seed: int, val: float = 0.2, test: float = 0.2) -> dict[str, np.ndarray]:
    """Sorted indices into ``labels`` for "train", "val" and "test" (fractions ``1 − val − test``,
    ``val``, ``test``): disjoint, covering every index, each split holding every label in
    proportion (scikit-learn's stratified ``train_test_split``); a pure function of its arguments."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels))
    rest, test_idx = train_test_split(everything, test_size=test, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train_idx), "val": np.sort(val_idx), "test": np.sort(test_idx)}


def subset(data: LabelledImages, index: np.ndarray) -> LabelledImages:
    return LabelledImages(data.images[index], data.labels[index])


def digits_splits(seed: int, val: float = 0.2, test: float = 0.2) -> dict[str, LabelledImages]:
    """Digits split by :func:`stratified_splits` into "train", "val" and "test"."""
    digits = load_digits()
    return {split: subset(digits, index) for split, index in stratified_splits(digits.labels, seed, val, test).items()}


def digits_held_out_classes(seed: int, classes: int = 8, val: float = 0.2, test: float = 0.2) -> dict[str, LabelledImages]:
    """Digits of labels 0 … ``classes`` − 1 split by :func:`stratified_splits` into "train",
    "val" and "test"; "ood": every digit of the other labels (``classes`` … 9)."""
    digits = load_digits()
    known = np.flatnonzero(digits.labels < classes)
    splits = stratified_splits(digits.labels[known], seed, val, test)
    out = {split: subset(digits, known[index]) for split, index in splits.items()}
    return {**out, "ood": subset(digits, np.flatnonzero(digits.labels >= classes))}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip-compressed or not): the magic number 0x0000_08_<ndim>
    (0x00000803 images, 0x00000801 labels), ``ndim`` big-endian uint32 sizes, then the bytes in
    row-major order; :class:`DataFileError` names the file when it is missing or malformed."""
    fields = (f"magic 0x{0x800 + ndim:08x}", f"{ndim} big-endian uint32 sizes", "uint8 data")
    try:
        raw = Path(path).read_bytes()
        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except FileNotFoundError as err:
        raise DataFileError(str(path), fields, "not found") from err
    except (OSError, EOFError) as err:
        raise DataFileError(str(path), fields, f"a broken gzip file ({err})") from err
    header = 4 + 4 * ndim
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x800 + ndim:
        raise DataFileError(str(path), fields, f"magic number 0x{magic:08x}")
    if len(raw) < header:
        raise DataFileError(str(path), fields, f"a header of {len(raw)} bytes, not {header}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, offset=4))
    if len(raw) - header != math.prod(shape):
        raise DataFileError(str(path), fields, f"{len(raw) - header} data bytes for sizes {shape}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape).copy()


def fashion_mnist_dir() -> Path:
    """``$BENCH_DATA_DIR/fashion-mnist`` if it exists, else Debian's :data:`DEBIAN_FASHION_MNIST`."""
    root = data_dir()
    local = root / "fashion-mnist" if root is not None else None
    return local if local is not None and local.is_dir() else DEBIAN_FASHION_MNIST


def load_fashion_mnist(split: str) -> LabelledImages:
    """Fashion-MNIST ``split`` ("train": 60,000, "test": 10,000) from :func:`fashion_mnist_dir`,
    each file ``<name>.gz`` or ``<name>``: uint8 [N, 28, 28] and labels 0–9."""
    require_choice(split, SPLITS, "fashion_mnist", "split")
    directory = fashion_mnist_dir()
    paths = [directory / f"{n}.gz" if (directory / f"{n}.gz").exists() else directory / n for n in FASHION_FILES[split]]
    images, labels = read_idx(paths[0], 3), read_idx(paths[1], 1)
    if len(images) != len(labels):
        raise DataFileError(str(paths[1]), ("one label per image",), f"{len(labels)} labels for {len(images)} images")
    return LabelledImages(images, labels.astype(np.int64))


def downsample(images: np.ndarray, side: int) -> np.ndarray:
    """[N, H, W] images as float64 [N, side, side] by area averaging (``adaptive_avg_pool2d``):
    output (i, j) is the mean of rows ⌊iH/side⌋ … ⌈(i+1)H/side⌉ − 1 and the same columns
    (28 → 8: windows of 4×4 pixels starting 3.5 pixels apart, neighbours sharing a row or column)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(images, dtype=np.float64))[:, None]
    return F.adaptive_avg_pool2d(x, side)[:, 0].numpy()


def fashion_mnist_8x8(split: str) -> LabelledImages:
    """Fashion-MNIST ``split`` as digits look: :func:`downsample` to 8×8, scaled from 0–255 to
    0–16 and rounded to integers (digits' pixels are integer counts 0–16), float64 [N, 8, 8]."""
    fashion = load_fashion_mnist(split)
    return LabelledImages(np.round(downsample(fashion.images, 8) * DIGITS_MAX / 255), fashion.labels)
