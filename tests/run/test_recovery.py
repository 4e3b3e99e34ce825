"""Tests for fashion_models.run.recovery: the trial of a killed worker is failed, its run
closed with the reason, and the trial retried (real `optuna-run` processes, real data)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import (
    SLOW_CNN,
    assert_killed_trial_recovered,
    finish,
    load_study,
    mlflow_client,
    sqlite_url,
    start,
    wait_for_running_trial,
    write_study,
)

pytestmark = pytest.mark.slow

FAST_HEARTBEAT = "workers: {heartbeat_interval: 1, grace_period: 3}"


def test_a_killed_workers_trial_is_failed_closed_and_retried(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=2, space=SLOW_CNN, extra=FAST_HEARTBEAT)
    storage = sqlite_url(tmp_path)
    worker = start(path)
    number = wait_for_running_trial(storage, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    # The next start finds the trial without heartbeat, fails it, retries it, and finishes.
    code, out = finish(start(path))
    assert code == 0, out
    study = load_study(storage)
    client = mlflow_client(tmp_path)
    run = assert_killed_trial_recovered(study, client, number, n_trials=2)
    assert run.data.tags["optuna.state"] == "FAIL"
