"""Shared fixtures: the real Fashion-MNIST files, small splits of them, and scratch copies."""

from __future__ import annotations

import os

# Before anything imports TensorFlow: quiet its C++ logging, and pin the backend the project
# is pinned to (keras.json or a stray KERAS_BACKEND could name another).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import gzip  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from fashion_models.train.data import (  # noqa: E402
    FILES,
    FashionMNIST,
    Splits,
    load_fashion_mnist,
    make_splits,
)


@pytest.fixture(scope="session")
def fashion_mnist() -> FashionMNIST:
    """The real, verified data set, loaded once per test session."""
    return load_fashion_mnist()


@pytest.fixture(scope="session")
def small_splits(fashion_mnist: FashionMNIST) -> Splits:
    """480 train / 120 validation / 500 test images, stratified, seed 0."""
    return make_splits(fashion_mnist, validation_split=0.2, train_size=600, test_size=500, seed=0)


@pytest.fixture
def data_dir_copy(tmp_path: Path, fashion_mnist: FashionMNIST) -> Path:
    """A fresh directory holding the four real files as `<stem>.gz`, safe to corrupt.

    Real copies, not symlinks: a test that rewrites one must never reach the shared original.
    """
    source = Path(fashion_mnist.source)
    if not source.is_dir():
        pytest.skip(f"no local copy of Fashion-MNIST to duplicate (came from {source})")
    target = tmp_path / "fashion-mnist"
    target.mkdir()
    for stem in FILES.values():
        if (source / f"{stem}.gz").is_file():
            shutil.copyfile(source / f"{stem}.gz", target / f"{stem}.gz")
        else:  # an uncompressed original: gzip it, so every test sees the same layout
            (target / f"{stem}.gz").write_bytes(
                gzip.compress((source / stem).read_bytes(), compresslevel=1)
            )
    return target
