"""Tests for fashion_models.train.devices: the thread rule that workers on one host share."""

from __future__ import annotations

import pytest

from fashion_models.train.devices import threads_per_worker


@pytest.mark.parametrize(
    ("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8), (3, 16, 5)]
)
def test_thread_rule_shares_the_cores(workers: int, cores: int, threads: int) -> None:
    assert threads_per_worker(workers, cores) == threads
