"""Tests for fashion_models.serving.batcher: concurrent callers share forward passes and each
gets its own rows back."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fashion_models.serving.batcher import Batcher


def test_concurrent_callers_share_passes_and_get_their_own_rows() -> None:
    passes: list[int] = []
    gate = threading.Event()

    def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gate.wait()  # the first pass waits, so the others queue up behind it
        passes.append(len(batch))
        return batch * 2, batch.sum(axis=1)

    batcher = Batcher(forward, max_batch=64)
    inputs = [np.full((n, 3), float(i)) for i, n in enumerate((1, 2, 3, 4, 5, 6))]
    futures = [batcher.submit(x) for x in inputs]
    time.sleep(0.1)
    gate.set()
    for x, future in zip(inputs, futures, strict=True):
        doubled, sums = future.result(timeout=10)
        np.testing.assert_array_equal(doubled, x * 2)
        np.testing.assert_array_equal(sums, x.sum(axis=1))
    assert sum(passes) == 21 and len(passes) <= 2  # the first alone, the rest together
    batcher.close()


def test_a_pass_that_fails_fails_its_callers_and_the_next_pass_runs() -> None:
    def forward(batch: np.ndarray) -> tuple[np.ndarray]:
        if (batch < 0).any():
            raise ValueError("negative input")
        return (batch,)

    batcher = Batcher(forward)
    with pytest.raises(ValueError, match="negative input"):
        batcher.submit(np.array([[-1.0]])).result(timeout=10)
    assert batcher.submit(np.array([[1.0]])).result(timeout=10)[0].tolist() == [[1.0]]
    batcher.close()


def test_max_batch_bounds_a_pass() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def forward(batch: np.ndarray) -> tuple[np.ndarray]:
        gate.wait()
        sizes.append(len(batch))
        return (batch,)

    batcher = Batcher(forward, max_batch=4)
    futures = [batcher.submit(np.zeros((1, 1))) for _ in range(10)]
    gate.set()
    for future in futures:
        future.result(timeout=10)
    assert sum(sizes) == 10 and max(sizes) <= 4
    batcher.close()


def test_a_caller_that_comes_after_close_is_still_answered() -> None:
    """The service closes a replaced model's batcher while requests that took that model may
    still be on their way to it: they must be answered by it, not left waiting."""
    batcher = Batcher(lambda batch: (batch + 1,))
    batcher.close()
    assert batcher.submit(np.array([[1.0]])).result(timeout=10)[0].tolist() == [[2.0]]
