"""The 8×8 stand-ins: scikit-learn's digits and its seeded stratified splits (all classes, and
classes 0–7 with 8–9 held out as OOD), the IDX reader (tiny files written here, and Debian's
Fashion-MNIST when installed), and Fashion-MNIST shrunk to digits' 8×8, 0–16 form."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.tasks import image_data
from entropy_bench.tasks.base import DataFileError

from image_fixtures import idx_bytes

DEBIAN = image_data.DEBIAN_FASHION_MNIST
debian_files = pytest.mark.skipif(
    not (DEBIAN / "t10k-images-idx3-ubyte.gz").exists(), reason="apt-get install dataset-fashion-mnist"
)


# -- digits -----------------------------------------------------------------------------


def test_digits():
    images, labels = image_data.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float64
    assert images.min() == 0 and images.max() == 16 and (images == np.round(images)).all()
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_splits_are_deterministic_disjoint_covering_and_stratified():
    labels = image_data.load_digits().labels
    splits = image_data.stratified_splits(labels, seed=3)
    again = image_data.stratified_splits(labels, seed=3)
    assert all(np.array_equal(splits[s], again[s]) for s in ("train", "val", "test"))
    assert not np.array_equal(splits["test"], image_data.stratified_splits(labels, seed=4)["test"])
    together = np.concatenate(list(splits.values()))
    assert np.array_equal(np.sort(together), np.arange(len(labels)))  # disjoint and covering
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1077, 360, 360]
    counts = np.bincount(labels)
    for split, fraction in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        assert np.abs(np.bincount(labels[splits[split]], minlength=10) - fraction * counts).max() <= 1, split


def test_digits_splits_hold_the_indexed_images():
    digits = image_data.load_digits()
    splits = image_data.digits_splits(seed=0, val=0.1, test=0.3)
    index = image_data.stratified_splits(digits.labels, seed=0, val=0.1, test=0.3)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(splits[split].images, digits.images[index[split]])
        np.testing.assert_array_equal(splits[split].labels, digits.labels[index[split]])
    assert len(splits["test"].labels) == 540


def test_held_out_classes():
    digits = image_data.load_digits()
    splits = image_data.digits_held_out_classes(seed=0)
    assert set(splits) == {"train", "val", "test", "ood"}
    for split in ("train", "val", "test"):
        assert set(splits[split].labels.tolist()) == set(range(8)), split
    assert set(splits["ood"].labels.tolist()) == {8, 9} and len(splits["ood"].labels) == 174 + 180
    assert sum(len(splits[s].labels) for s in ("train", "val", "test")) == int((digits.labels < 8).sum())
    rows = np.concatenate([splits[s].images.reshape(-1, 64) for s in splits])
    assert len(rows) == 1797  # with the line below: every digit in exactly one split
    assert len(np.unique(rows, axis=0)) == len(np.unique(digits.images.reshape(-1, 64), axis=0))
    again = image_data.digits_held_out_classes(seed=0)
    assert all(np.array_equal(splits[s].images, again[s].images) for s in splits)


# -- IDX files --------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_idx_reader_on_tiny_files(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 0], dtype=np.uint8)
    for name, array in (("images", images), ("labels", labels)):
        data = idx_bytes(array)
        (tmp_path / name).write_bytes(gzip.compress(data) if compress else data)
    assert (tmp_path / "images").read_bytes()[:4] == (gzip.compress(idx_bytes(images))[:4] if compress else b"\0\0\x08\x03")
    read = image_data.read_idx(tmp_path / "images", 3)
    np.testing.assert_array_equal(read, images)
    assert read.flags.writeable
    np.testing.assert_array_equal(image_data.read_idx(tmp_path / "labels", 1), labels)


def test_idx_sizes_are_big_endian(tmp_path):
    (tmp_path / "wide").write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 1, 0]) + bytes(range(256)))
    assert image_data.read_idx(tmp_path / "wide", 2).shape == (1, 256)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2]), "2 data bytes for sizes (3,)"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 1]), "a header of 8 bytes, not 16"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2]), "magic number 0x00000801"),  # labels read as images
        (bytes([0, 0, 0x0D, 3]) + bytes(12), "magic number 0x00000d03"),  # float32 data
        (gzip.compress(bytes(100))[:20], "a broken gzip file"),
    ],
)
def test_missing_or_malformed_idx_is_one_clear_error(tmp_path, content, problem):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    if content is not None:
        path.write_bytes(content)
    ndim = 1 if problem.startswith("2 data") else 3
    with pytest.raises(DataFileError) as err:
        image_data.read_idx(path, ndim)
    assert str(err.value).startswith(f"{path}: {problem}")
    assert str(err.value).endswith(f"expected rows with the fields magic 0x0000080{ndim}, {ndim} big-endian uint32 sizes, uint8 data")


# -- Fashion-MNIST ----------------------------------------------------------------------


@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch) -> np.ndarray:
    """``$BENCH_DATA_DIR/fashion-mnist`` with a 3-image test split (images gzipped, labels not)."""
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1] = 255
    images[2, :4, :4] = 255  # exactly output pixel (0, 0)'s window
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([9, 0, 4])))
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    return images


def test_fashion_mnist_from_bench_data_dir(tiny_fashion, tmp_path):
    assert image_data.fashion_mnist_dir() == tmp_path / "fashion-mnist"
    images, labels = image_data.load_fashion_mnist("test")
    np.testing.assert_array_equal(images, tiny_fashion)
    assert labels.tolist() == [9, 0, 4] and labels.dtype == np.int64
    small, small_labels = image_data.fashion_mnist_8x8("test")
    assert small.shape == (3, 8, 8) and small.dtype == np.float64 and small_labels.tolist() == [9, 0, 4]
    assert (small[0] == 0).all() and (small[1] == 16).all()
    expected = np.zeros((8, 8))
    expected[0, 0] = 16
    expected[0, 1] = expected[1, 0] = 4  # windows of rows/columns 3-6 hold one row/column of ink: 16/4
    expected[1, 1] = 1
    np.testing.assert_array_equal(small[2], expected)


def test_fashion_mnist_label_count_must_match(tiny_fashion, tmp_path):
    (tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([9, 0])))
    with pytest.raises(DataFileError, match="2 labels for 3 images"):
        image_data.load_fashion_mnist("test")


def test_fashion_mnist_dir_defaults_to_debian(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    assert image_data.fashion_mnist_dir() == Path("/usr/share/datasets/fashion-mnist")
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))  # without a fashion-mnist directory
    assert image_data.fashion_mnist_dir() == Path("/usr/share/datasets/fashion-mnist")
    with pytest.raises(InvalidParameterError, match="split"):
        image_data.load_fashion_mnist("val")


@debian_files
@pytest.mark.parametrize(("split", "size"), [("train", 60000), ("test", 10000)])
def test_debian_fashion_mnist(monkeypatch, split, size):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    images, labels = image_data.load_fashion_mnist(split)
    assert images.shape == (size, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [size // 10] * 10  # classes 0-9, balanced
    small = image_data.fashion_mnist_8x8(split).images
    assert small.shape == (size, 8, 8) and small.min() == 0 and small.max() == 16
    assert (small == np.round(small)).all()


# -- downsampling -----------------------------------------------------------------------


def area_reference(images: np.ndarray, side: int) -> np.ndarray:
    """The documented windows: output (i, j) = mean of rows ⌊iH/side⌋ … ⌈(i+1)H/side⌉ − 1, same for columns."""
    height = images.shape[1]
    bounds = [(i * height // side, -(-(i + 1) * height // side)) for i in range(side)]
    return np.array([[[image[a:b, c:d].mean() for c, d in bounds] for a, b in bounds] for image in images])


@pytest.mark.parametrize(("height", "side"), [(28, 8), (28, 7), (32, 8), (9, 4)])
def test_downsample_is_area_averaging(height, side):
    images = np.random.default_rng(height).integers(0, 256, (3, height, height), dtype=np.uint8)
    np.testing.assert_allclose(image_data.downsample(images, side), area_reference(images, side), rtol=0, atol=1e-12)


def test_downsample_28_to_8_windows():
    assert [(i * 28 // 8, -(-(i + 1) * 28 // 8)) for i in range(8)] == [
        (0, 4), (3, 7), (7, 11), (10, 14), (14, 18), (17, 21), (21, 25), (24, 28)]  # 4×4, 3.5 apart
    constant = np.full((1, 28, 28), 200, dtype=np.uint8)
    assert (image_data.downsample(constant, 8) == 200).all()
