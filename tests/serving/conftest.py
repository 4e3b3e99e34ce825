"""Fixtures of the serving tests (the champion they classify with is in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_models.train.data import FashionMNIST


@pytest.fixture(scope="module")
def garments(fashion_mnist: FashionMNIST) -> np.ndarray:
    """Six real test images (uint8, 28x28) to make photos of."""
    return np.asarray(fashion_mnist.x_test[:6])
