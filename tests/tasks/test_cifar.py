"""CIFAR loading: the official python-pickle batches (written here in their exact layout), the
hub path (a local parquet directory standing in for the hub through the same
``datasets.load_dataset`` call), the CSV of the first 100 test images, and ``preprocess``.

The key check: the 100 real test images of the CSV, written into a pickle ``test_batch`` and
into a hub-style parquet directory, come back through each path as identical tensors."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from entropy_bench.methods.registry import InvalidParameterError
from entropy_bench.tasks import image_data
from entropy_bench.tasks.base import DataFileError

from image_fixtures import PLANE, official_rows, random_images, write_batch

def write_hub(directory: Path, split: str, columns: dict[str, np.ndarray]) -> None:
    """A directory laid out as the hub's parquet conversion (``<config>/<split>-00000-of-00001.parquet``)
    with an ``Image`` column ``img`` (PNG, lossless) and ``ClassLabel`` label columns."""
    import datasets
    import PIL.Image

    features = {"img": datasets.Image()}
    features.update({name: datasets.ClassLabel(num_classes=100) for name in columns if name != "img"})
    data = {name: list(values) for name, values in columns.items()}
    data["img"] = [PIL.Image.fromarray(a) for a in columns["img"]]
    rows = datasets.Dataset.from_dict(data, features=datasets.Features(features))
    (directory / "plain_text").mkdir(parents=True, exist_ok=True)
    with image_data.quiet_datasets():
        rows.to_parquet(str(directory / "plain_text" / f"{split}-00000-of-00001.parquet"))


@pytest.fixture
def first100(shared_data) -> image_data.LabelledImages:
    return image_data.cifar10_test_first100()


@pytest.fixture
def hub_as(monkeypatch):
    """Point a CIFAR dataset's hub id at a local directory, with $BENCH_DATA_DIR unset."""

    def point(name: str, directory: Path) -> None:
        monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
        spec = dataclasses.replace(image_data.CIFAR[name], hub_path=str(directory))
        monkeypatch.setitem(image_data.CIFAR, name, spec)

    return point


# -- the CSV of the first 100 test images ------------------------------------------------


def test_csv_is_the_first_100_official_test_images(first100):
    images, labels = first100
    assert images.shape == (100, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (100,) and labels.dtype == np.int64
    assert labels[:20].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]  # SOURCES.md
    assert images[0, 0, 0].tolist() == [158, 112, 49]
    assert images[0, 0, 1].tolist() == [159, 111, 47]  # the CSV's values 4-6: the next pixel of row 0


def test_csv_reader_on_a_hand_written_line(tmp_path):
    pixels = np.zeros((32, 32, 3), dtype=np.int64)
    pixels[0, 1] = (10, 20, 30)
    pixels[1, 0] = (40, 50, 60)
    path = tmp_path / "two.csv"
    path.write_text("".join(",".join(map(str, [label, *pixels.ravel()])) + "\n" for label in (7, 2)))
    images, labels = image_data.read_cifar10_csv(path)
    assert labels.tolist() == [7, 2]
    assert images[0, 0, 1].tolist() == [10, 20, 30] and images[1, 1, 0].tolist() == [40, 50, 60]
    assert images[0].astype(np.int64).sum() == 210


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        ("3," + ",".join(["1"] * 3071) + "\n", "has 3072 values a row, not 3073"),
        ("3," + ",".join(["256"] * 3072) + "\n", "has a label outside 0-9 or a pixel outside 0-255"),
        ("10," + ",".join(["0"] * 3072) + "\n", "has a label outside 0-9 or a pixel outside 0-255"),
        ("3,x," + ",".join(["0"] * 3071) + "\n", "not a table of integers"),
    ],
)
def test_bad_csv_is_one_clear_error(tmp_path, content, problem):
    path = tmp_path / "test_first100.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError) as err:
        image_data.read_cifar10_csv(path)
    assert str(err.value).startswith(f"{path}: {problem}")
    assert "expected rows with the fields label, 3072 pixel values" in str(err.value)


def test_csv_needs_bench_data_dir(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    with pytest.raises(DataFileError, match="BENCH_DATA_DIR is not set"):
        image_data.cifar10_test_first100()


# -- the pickle path --------------------------------------------------------------------


def test_pickle_round_trip(tmp_path):
    images, labels = random_images(7), [3, 1, 4, 1, 5, 9, 2]
    write_batch(tmp_path / "test_batch", images, {b"labels": labels})
    batch = pickle.loads((tmp_path / "test_batch").read_bytes(), encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}  # the official keys
    read = image_data.read_cifar_pickle(tmp_path / "test_batch", b"labels")
    assert read.images.dtype == np.uint8 and read.images.shape == (7, 32, 32, 3)
    np.testing.assert_array_equal(read.images, images)
    assert read.labels.tolist() == labels and read.labels.dtype == np.int64


def test_plane_order_by_hand(tmp_path):
    """Rows written by hand in the official layout: image 0 is pure red (the R plane all 255);
    image 1 has a green pixel at (row 0, col 1) and a blue one at (row 1, col 0), i.e. its
    top-left 2×2 block is black, green / blue, black."""
    rows = np.zeros((2, 3 * PLANE), dtype=np.uint8)
    rows[0, :PLANE] = 255
    rows[1, PLANE + 1] = 255  # G plane, row 0, column 1
    rows[1, 2 * PLANE + 32] = 255  # B plane, row 1, column 0
    batch = {b"batch_label": b"hand", b"labels": [0, 1], b"data": rows, b"filenames": [b"a", b"b"]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    images, _ = image_data.read_cifar_pickle(tmp_path / "test_batch", b"labels")
    assert (images[0, ..., 0] == 255).all() and (images[0, ..., 1:] == 0).all()
    assert images[1, :2, :2].tolist() == [[[0, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 0, 0]]]
    assert images[1].astype(int).sum() == 510
    x = image_data.preprocess(images, image_data.CIFAR10_MEAN, image_data.CIFAR10_STD)
    red = (1 - image_data.CIFAR10_MEAN[0]) / image_data.CIFAR10_STD[0]
    torch.testing.assert_close(x[0, 0], torch.full((32, 32), red), rtol=0, atol=1e-6)
    assert x[1, 1, 0, 1] == x[1, 1].max() and x[1, 2, 1, 0] == x[1, 2].max()


def test_cifar10_train_is_the_five_batches_in_order(tmp_path, monkeypatch):
    root = tmp_path / "cifar-10-batches-py"
    parts = [random_images(3, seed=i) for i in range(5)]
    for i, part in enumerate(parts, start=1):
        write_batch(root / f"data_batch_{i}", part, {b"labels": [i] * 3})
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    images, labels = image_data.load_cifar("cifar10", "train")
    np.testing.assert_array_equal(images, np.concatenate(parts))
    assert labels.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]


def test_cifar100_fine_and_coarse_labels(tmp_path, monkeypatch):
    images = random_images(4)
    labels = {b"fine_labels": [99, 0, 42, 7], b"coarse_labels": [19, 4, 0, 3]}
    write_batch(tmp_path / "cifar-100-python" / "test", images, labels)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    fine = image_data.load_cifar("cifar100", "test")
    coarse = image_data.load_cifar("cifar100", "test", label="coarse_label")
    np.testing.assert_array_equal(fine.images, images)
    assert fine.labels.tolist() == [99, 0, 42, 7] and coarse.labels.tolist() == [19, 4, 0, 3]


def test_source_is_the_pickle_directory_if_present_else_the_hub(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    assert image_data.cifar_source("cifar10") == "uoft-cs/cifar10"
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    assert image_data.cifar_source("cifar100") == "uoft-cs/cifar100"
    (tmp_path / "cifar-100-python").mkdir()
    assert image_data.cifar_source("cifar100") == tmp_path / "cifar-100-python"
    assert image_data.cifar_source("cifar10") == "uoft-cs/cifar10"


def test_invalid_name_split_and_label():
    with pytest.raises(InvalidParameterError, match="did you mean 'cifar10'"):
        image_data.load_cifar("cifar1", "test")
    with pytest.raises(InvalidParameterError, match="split"):
        image_data.load_cifar("cifar10", "validation")
    with pytest.raises(InvalidParameterError, match="label"):
        image_data.load_cifar("cifar10", "test", label="fine_label")


class Shell:
    def __reduce__(self):
        return (os.system, ("true",))


GOOD = {b"labels": [1, 2], b"data": np.zeros((2, 3072), dtype=np.uint8)}
MALFORMED = {  # the problem the error names: the file's content
    "not found": None,
    "not a CIFAR python pickle (": b"this is not a pickle",
    "not a CIFAR python pickle (it names posix.system": pickle.dumps(Shell(), protocol=2),
    "has no labels": pickle.dumps({b"data": GOOD[b"data"]}, protocol=2),
    "has no data, labels": pickle.dumps([1, 2, 3], protocol=2),
    "data is not uint8 [N, 3072]: (2, 1024)": pickle.dumps({**GOOD, b"data": np.zeros((2, 1024), np.uint8)}, protocol=2),
    "data is not uint8 [N, 3072]: (2, 3072)": pickle.dumps({**GOOD, b"data": np.zeros((2, 3072), np.float32)}, protocol=2),
    "2 images but labels of shape (3,)": pickle.dumps({**GOOD, b"labels": [1, 2, 3]}, protocol=2),
}


@pytest.mark.parametrize("problem", list(MALFORMED))
def test_missing_or_malformed_pickle_is_one_clear_error(tmp_path, monkeypatch, problem):
    content = MALFORMED[problem]
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    if content is not None:
        (root / "test_batch").write_bytes(content)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataFileError) as err:
        image_data.load_cifar("cifar10", "test")
    assert str(err.value).startswith(f"{root / 'test_batch'}: {problem}")
    assert str(err.value).endswith("expected rows with the fields data, labels")


def test_the_unpickler_runs_no_code(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", calls.append)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(Shell(), protocol=2))
    with pytest.raises(DataFileError):
        image_data.read_cifar_pickle(tmp_path / "test_batch", b"labels")
    assert calls == []


# -- the hub path -----------------------------------------------------------------------


def test_load_through_the_hub_path_with_a_local_directory_as_the_hub(tmp_path, hub_as):
    """The same ``load_dataset(path, split=split)`` call, a parquet directory in place of ``uoft-cs/cifar10``."""
    images, labels = random_images(6), np.array([0, 9, 3, 3, 1, 2])
    write_hub(tmp_path / "hub", "test", {"img": images, "label": labels})
    hub_as("cifar10", tmp_path / "hub")
    read = image_data.load_cifar("cifar10", "test")
    np.testing.assert_array_equal(read.images, images)
    assert read.labels.tolist() == labels.tolist() and read.labels.dtype == np.int64


def test_cifar100_through_the_hub_path(tmp_path, hub_as):
    images = random_images(3)
    write_hub(tmp_path / "hub", "train", {"img": images, "fine_label": np.array([99, 5, 0]),
                                          "coarse_label": np.array([19, 2, 4])})
    hub_as("cifar100", tmp_path / "hub")
    assert image_data.load_cifar("cifar100", "train").labels.tolist() == [99, 5, 0]
    coarse = image_data.load_cifar("cifar100", "train", label="coarse_label")
    np.testing.assert_array_equal(coarse.images, images)
    assert coarse.labels.tolist() == [19, 2, 4]


def test_hub_without_a_column_or_data_is_one_clear_error(tmp_path, hub_as):
    write_hub(tmp_path / "hub", "test", {"img": random_images(2), "fine_label": np.array([1, 2])})
    hub_as("cifar10", tmp_path / "hub")
    with pytest.raises(DataFileError, match=r"hub: has no column label; expected rows with the fields img, label"):
        image_data.load_cifar("cifar10", "test")
    (tmp_path / "empty").mkdir()
    hub_as("cifar10", tmp_path / "empty")
    with pytest.raises(DataFileError, match=r"empty: not found"):
        image_data.load_cifar("cifar10", "test")


def test_unreachable_hub_without_pickles(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setattr("entropy_bench.hub.hub_reachable", lambda: False)
    with pytest.raises(ConnectionError, match="uoft-cs/cifar10"):
        image_data.load_cifar("cifar10", "test")


# -- Done-when item 1: the same 100 real images through every path -----------------------


def test_csv_pickle_and_hub_paths_preprocess_identically(first100, tmp_path, monkeypatch, hub_as):
    write_batch(tmp_path / "pickles" / "cifar-10-batches-py" / "test_batch", first100.images,
                {b"labels": first100.labels})
    write_hub(tmp_path / "hub", "test", {"img": first100.images, "label": first100.labels})
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "pickles"))
    from_pickle = image_data.load_cifar("cifar10", "test")
    hub_as("cifar10", tmp_path / "hub")
    from_hub = image_data.load_cifar("cifar10", "test")
    expected = image_data.preprocess(first100.images, image_data.CIFAR10_MEAN, image_data.CIFAR10_STD)
    for read in (from_pickle, from_hub):
        assert torch.equal(image_data.preprocess(read.images, image_data.CIFAR10_MEAN, image_data.CIFAR10_STD), expected)
        np.testing.assert_array_equal(read.labels, first100.labels)


# -- preprocess -------------------------------------------------------------------------


def test_preprocess_is_the_normalisation_formula_and_pure():
    images = random_images(5)
    before = images.copy()
    x = image_data.preprocess(images, image_data.CIFAR10_MEAN, image_data.CIFAR10_STD)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32
    expected = (images.astype(np.float64) / 255 - image_data.CIFAR10_MEAN) / image_data.CIFAR10_STD
    np.testing.assert_allclose(x.numpy(), expected.transpose(0, 3, 1, 2), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(images, before)
    x[:] = 0
    np.testing.assert_array_equal(images, before)  # the tensor does not share the images' memory


def test_preprocess_rejects_other_layouts():
    with pytest.raises(ValueError, match="uint8"):
        image_data.preprocess(random_images(2).astype(np.float32), image_data.CIFAR10_MEAN, image_data.CIFAR10_STD)
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        image_data.preprocess(random_images(2).transpose(0, 3, 1, 2), image_data.CIFAR10_MEAN, image_data.CIFAR10_STD)


def test_normalisation_constants():
    """Rounded to 4 decimals, the values quoted across CIFAR code bases; fb.resnet.torch's
    0–255 values over 255."""
    assert np.round(image_data.CIFAR10_MEAN, 4).tolist() == [0.4914, 0.4822, 0.4465]
    assert np.round(image_data.CIFAR10_STD, 4).tolist() == [0.2470, 0.2435, 0.2616]
    np.testing.assert_allclose(np.array(image_data.CIFAR10_MEAN) * 255, [125.3, 123.0, 113.9], atol=0.05)
    np.testing.assert_allclose(np.array(image_data.CIFAR10_STD) * 255, [63.0, 62.1, 66.7], atol=0.05)
    assert np.round(image_data.CIFAR100_MEAN, 4).tolist() == [0.5071, 0.4865, 0.4409]
    assert np.round(image_data.CIFAR100_STD, 4).tolist() == [0.2673, 0.2564, 0.2762]
