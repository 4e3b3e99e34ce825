"""fashion_models.train.data against the real Fashion-MNIST files and scratch copies of them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from fashion_models.train import data
from fashion_models.train.data import (
    CLASS_NAMES,
    DOWNLOAD_SOURCE,
    FILES,
    SHA256,
    DataError,
    FashionMNIST,
    Splits,
    candidate_dirs,
    load_fashion_mnist,
    make_splits,
)

REINSTALL_FIX = "apt-get install --reinstall dataset-fashion-mnist"


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test loads afresh, and copies loaded from tmp dirs do not pile up in memory.
    monkeypatch.setattr(data, "_CACHE", {})


def gz_path(directory: Path, role: str) -> Path:
    return directory / f"{FILES[role]}.gz"


def rewrite(path: Path, edit: bytes | None = None, *, flip: int | None = None) -> None:
    """Replace a gzipped file's content (or flip the byte at `flip` of it) and re-gzip."""
    content = bytearray(gzip.decompress(path.read_bytes()) if edit is None else edit)
    if flip is not None:
        content[flip] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(content), compresslevel=1))


def load_error(directory: Path) -> str:
    with pytest.raises(DataError) as info:
        load_fashion_mnist(directory)
    return str(info.value)


def no_local_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Point every candidate directory at an empty tmp dir; return them in search order."""
    dirs = [tmp_path / name for name in ("env", "system", "keras-home")]
    monkeypatch.setenv("FASHION_MNIST_DIR", str(dirs[0]))
    monkeypatch.setattr(data, "_SYSTEM_DIR", dirs[1])
    monkeypatch.setenv("KERAS_HOME", str(dirs[2]))
    dirs[0].mkdir()
    return [dirs[0], dirs[1], dirs[2] / "datasets" / "fashion-mnist"]


# --- loading -------------------------------------------------------------------------------


def test_real_files_have_expected_shapes_types_and_classes(fashion_mnist: FashionMNIST) -> None:
    assert fashion_mnist.x_train.shape == (60000, 28, 28)
    assert fashion_mnist.y_train.shape == (60000,)
    assert fashion_mnist.x_test.shape == (10000, 28, 28)
    assert fashion_mnist.y_test.shape == (10000,)
    for array in (fashion_mnist.x_train, fashion_mnist.y_train, fashion_mnist.x_test):
        assert array.dtype == np.uint8
    assert fashion_mnist.y_test.dtype == np.uint8
    assert len(CLASS_NAMES) == 10
    # Fashion-MNIST is exactly balanced: every class in both sets, 6,000 and 1,000 of each.
    assert np.bincount(fashion_mnist.y_train, minlength=11).tolist() == [6000] * 10 + [0]
    assert np.bincount(fashion_mnist.y_test, minlength=11).tolist() == [1000] * 10 + [0]


def test_checksums_are_recorded(fashion_mnist: FashionMNIST) -> None:
    assert fashion_mnist.checksums == SHA256


def test_loaded_arrays_are_read_only(fashion_mnist: FashionMNIST) -> None:
    with pytest.raises(ValueError, match="read-only"):
        fashion_mnist.x_train[0, 0, 0] = 1


def test_candidate_dirs_in_order() -> None:
    env = {"FASHION_MNIST_DIR": "/data/fm", "HOME": "/home/u"}
    assert candidate_dirs(env) == [
        Path("/data/fm"),
        Path("/usr/share/datasets/fashion-mnist"),
        Path("/home/u/.keras/datasets/fashion-mnist"),
    ]
    assert candidate_dirs({"HOME": "/home/u", "KERAS_HOME": "/k"}) == [
        Path("/usr/share/datasets/fashion-mnist"),
        Path("/k/datasets/fashion-mnist"),
    ]


def test_fashion_mnist_dir_takes_precedence(
    data_dir_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHION_MNIST_DIR", str(data_dir_copy))
    loaded = load_fashion_mnist()
    assert loaded.source == str(data_dir_copy.resolve())
    assert loaded.checksums == SHA256


def test_uncompressed_copy_loads(
    data_dir_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fashion_mnist: FashionMNIST,
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for role, stem in FILES.items():
        (plain / stem).write_bytes(gzip.decompress(gz_path(data_dir_copy, role).read_bytes()))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(plain))
    loaded = load_fashion_mnist()
    assert loaded.source == str(plain.resolve())
    np.testing.assert_array_equal(loaded.x_train, fashion_mnist.x_train)
    np.testing.assert_array_equal(loaded.y_test, fashion_mnist.y_test)


def test_gzipped_file_preferred_when_both_exist(data_dir_copy: Path) -> None:
    (data_dir_copy / FILES["test_labels"]).write_bytes(b"not the real file")
    assert load_fashion_mnist(data_dir_copy).checksums == SHA256


def test_load_is_cached_per_directory(data_dir_copy: Path) -> None:
    first = load_fashion_mnist(data_dir_copy)
    assert load_fashion_mnist(str(data_dir_copy)) is first


def test_cache_rereads_a_file_that_changed(data_dir_copy: Path) -> None:
    load_fashion_mnist(data_dir_copy)
    rewrite(gz_path(data_dir_copy, "test_labels"), flip=100)
    assert "SHA-256" in load_error(data_dir_copy)


# --- corrupt and missing files -------------------------------------------------------------


@pytest.mark.parametrize("role", list(FILES))
def test_flipped_byte_names_the_file_and_the_fix(data_dir_copy: Path, role: str) -> None:
    path = gz_path(data_dir_copy, role)
    rewrite(path, flip=-1)  # the last pixel or label: the header stays valid
    message = load_error(data_dir_copy)
    assert f"Fashion-MNIST file {path.resolve()} is corrupt: SHA-256" in message
    assert f"expected {SHA256[role]}" in message
    assert REINSTALL_FIX in message and "FASHION_MNIST_DIR" in message


def test_truncated_gzip_names_the_file(data_dir_copy: Path) -> None:
    path = gz_path(data_dir_copy, "train_images")
    path.write_bytes(path.read_bytes()[:100_000])
    message = load_error(data_dir_copy)
    assert str(path.resolve()) in message and REINSTALL_FIX in message


def test_file_that_is_not_gzip_names_the_file(data_dir_copy: Path) -> None:
    path = gz_path(data_dir_copy, "train_labels")
    path.write_bytes(b"plain text, not gzip")
    message = load_error(data_dir_copy)
    assert str(path.resolve()) in message and REINSTALL_FIX in message


def test_wrong_magic_number_names_the_file(data_dir_copy: Path) -> None:
    path = gz_path(data_dir_copy, "test_labels")
    content = gzip.decompress(path.read_bytes())
    rewrite(path, (1234).to_bytes(4, "big") + content[4:])
    message = load_error(data_dir_copy)
    assert f"{path.resolve()} is corrupt: magic number 1234" in message


def test_length_not_matching_header_names_the_file(data_dir_copy: Path) -> None:
    path = gz_path(data_dir_copy, "test_labels")
    rewrite(path, gzip.decompress(path.read_bytes())[:-10])
    message = load_error(data_dir_copy)
    assert f"{path.resolve()} is corrupt: its header announces shape (10000,)" in message
    assert "(10008 bytes) but it holds 9998 bytes" in message


def test_missing_file_in_given_directory(data_dir_copy: Path) -> None:
    gz_path(data_dir_copy, "test_images").unlink()
    message = load_error(data_dir_copy)
    assert FILES["test_images"] in message and str(data_dir_copy.resolve()) in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_nothing_found_names_every_place_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked = no_local_copy(tmp_path, monkeypatch)

    def offline() -> data._Arrays:
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_download_with_keras", offline)
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    message = str(info.value)
    for directory in looked:
        assert str(directory.resolve()) in message
    assert "Temporary failure in name resolution" in message
    assert "apt-get install dataset-fashion-mnist" in message and "FASHION_MNIST_DIR" in message


def test_download_fallback_is_verified_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fashion_mnist: FashionMNIST
) -> None:
    no_local_copy(tmp_path, monkeypatch)
    m = fashion_mnist
    labels = m.y_test.copy()
    monkeypatch.setattr(
        data, "_download_with_keras", lambda: ((m.x_train, m.y_train), (m.x_test, labels))
    )
    loaded = load_fashion_mnist()
    assert loaded.source == DOWNLOAD_SOURCE and loaded.checksums == SHA256

    monkeypatch.setattr(data, "_CACHE", {})
    labels[0] = (labels[0] + 1) % 10
    with pytest.raises(DataError, match="test_labels from the download is corrupt"):
        load_fashion_mnist()


# --- splits --------------------------------------------------------------------------------


def assert_splits_equal(a: Splits, b: Splits) -> None:
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_small_splits_sizes_and_types(small_splits: Splits) -> None:
    for x, y, n in (
        (small_splits.x_train, small_splits.y_train, 480),
        (small_splits.x_val, small_splits.y_val, 120),
        (small_splits.x_test, small_splits.y_test, 500),
    ):
        assert x.shape == (n, 28, 28, 1) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() >= 0.0 and x.max() <= 1.0


def test_splits_are_stratified(small_splits: Splits) -> None:
    for y in (small_splits.y_train, small_splits.y_val, small_splits.y_test):
        shares = np.bincount(y, minlength=10) / len(y)
        assert np.all(np.abs(shares - 0.1) <= 0.01), shares


def test_same_seed_gives_identical_arrays(
    fashion_mnist: FashionMNIST, small_splits: Splits
) -> None:
    again = make_splits(fashion_mnist, validation_split=0.2, train_size=600, test_size=500, seed=0)
    assert_splits_equal(again, small_splits)


def test_another_seed_gives_other_images(fashion_mnist: FashionMNIST, small_splits: Splits) -> None:
    other = make_splits(fashion_mnist, validation_split=0.2, train_size=600, test_size=500, seed=1)
    for name in ("x_train", "x_val", "x_test"):
        assert not np.array_equal(getattr(other, name), getattr(small_splits, name)), name


def test_test_subset_does_not_depend_on_train_size(fashion_mnist: FashionMNIST) -> None:
    a = make_splits(fashion_mnist, validation_split=0.2, train_size=600, test_size=500)
    b = make_splits(fashion_mnist, validation_split=0.5, train_size=1000, test_size=500)
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_split_indices_are_disjoint_and_from_the_right_files(
    fashion_mnist: FashionMNIST, small_splits: Splits
) -> None:
    fit, val, test = data._split_indices(fashion_mnist, 0.2, 600, 500, 0)
    assert len(set(fit.tolist()) | set(val.tolist())) == len(fit) + len(val) == 600
    assert len(set(test.tolist())) == 500 and test.max() < 10000
    sources = {"train": fashion_mnist.x_train, "test": fashion_mnist.x_test}
    for x, source, idx in (
        (small_splits.x_train, "train", fit),
        (small_splits.x_val, "train", val),
        (small_splits.x_test, "test", test),  # only ever the t10k images
    ):
        np.testing.assert_array_equal(x[..., 0], sources[source][idx] / np.float32(255))
    np.testing.assert_array_equal(small_splits.y_test, fashion_mnist.y_test[test])


def test_full_splits_use_every_image(fashion_mnist: FashionMNIST) -> None:
    splits = make_splits(fashion_mnist, validation_split=0.2)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (48000, 12000, 10000)
    np.testing.assert_array_equal(splits.y_test, fashion_mnist.y_test)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"validation_split": 0.0}, "0 < validation_split < 1"),
        ({"validation_split": 1.0}, "0 < validation_split < 1"),
        ({"validation_split": -0.1}, "0 < validation_split < 1"),
        ({"validation_split": float("nan")}, "0 < validation_split < 1"),
        ({"train_size": 0}, "10 <= train_size <= 60000"),
        ({"train_size": -5}, "10 <= train_size <= 60000"),
        ({"train_size": 60001}, "10 <= train_size <= 60000"),
        ({"train_size": 0.5}, "train_size must be an integer"),
        ({"train_size": True}, "train_size must be an integer"),
        ({"test_size": 5}, "10 <= test_size <= 10000"),
        ({"test_size": 10001}, "10 <= test_size <= 10000"),
        ({"train_size": 15}, "each needs at least 10"),
        ({"train_size": 100, "validation_split": 0.95}, "leaves 5 for training and 95"),
        ({"train_size": 100, "validation_split": 0.05}, "leaves 95 for training and 5"),
    ],
)
def test_bad_arguments_raise_value_error(
    fashion_mnist: FashionMNIST, kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"validation_split": 0.2, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_splits(fashion_mnist, **args)  # type: ignore[arg-type]
