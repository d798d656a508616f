"""Image data files written in their official formats: CIFAR python batches and IDX files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

PLANE = 32 * 32


def official_rows(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32, 3] as the official ``b"data"`` [N, 3072]: the R plane, then G, then B,
    each 32×32 row-major (written plane by plane, not by the reader's reshape)."""
    rows = np.empty((len(images), 3 * PLANE), dtype=np.uint8)
    for c in range(3):
        rows[:, c * PLANE : (c + 1) * PLANE] = images[..., c].reshape(len(images), PLANE)
    return rows


def write_batch(path: Path, images: np.ndarray, labels: dict[bytes, list[int]]) -> None:
    """An official CIFAR python batch: a dict with ``b"batch_label"``, the label lists,
    ``b"data"`` and ``b"filenames"``, pickled at protocol 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        **{key: [int(v) for v in values] for key, values in labels.items()},
        b"data": official_rows(images),
        b"filenames": [f"image_{i}.png".encode() for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of uint8 ``array``: magic 0x0000 08 <ndim>, big-endian uint32 sizes, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(s.to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def random_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def write_cifar(root: Path, per_batch: int, test: int) -> None:
    """``root/cifar-10-batches-py`` (5 training batches of ``per_batch`` images, a test batch) and
    ``root/cifar-100-python`` (train and test), random images, every label in turn."""
    for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
        n = test if name == "test_batch" else per_batch
        write_batch(root / "cifar-10-batches-py" / name, random_images(n, i), {b"labels": np.arange(n) % 10})
    for i, (name, n) in enumerate((("train", 5 * per_batch), ("test", test))):
        labels = np.arange(n) % 100
        write_batch(root / "cifar-100-python" / name, random_images(n, 10 + i),
                    {b"fine_labels": labels, b"coarse_labels": labels // 5})


def write_fashion_test(root: Path, n: int, seed: int = 0) -> None:
    """``root/fashion-mnist`` with a test split of ``n`` random 28×28 images (gzipped IDX)."""
    import gzip

    rng = np.random.default_rng(seed)
    (root / "fashion-mnist").mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    (root / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(rng.integers(0, 10, n))))
