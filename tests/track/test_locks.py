"""Tests for fashion_models.track.locks: a mutex kept in the MLflow store itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fashion_models.track.locks import lock_name, store_lock
from tests.helpers import mlflow_client

pytestmark = pytest.mark.slow


def test_store_lock_excludes(finished: Path) -> None:
    mlflow_client(finished.parent)
    inside, seen = [0], []

    def hold() -> None:
        with store_lock(lock_name("test", "excl"), timeout=60):
            inside[0] += 1
            seen.append(inside[0])
            time.sleep(0.05)
            inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1, 1, 1]
