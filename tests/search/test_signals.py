"""Tests for fashion_models.search.signals: SIGINT and SIGTERM stop a worker cleanly (a real
`optuna-run` process in the middle of a trial on real data)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import (
    SLOW_CNN,
    assert_exact_study,
    failed,
    finish,
    load_study,
    mlflow_client,
    sqlite_url,
    start,
    trial_runs,
    wait_for_running_trial,
    write_study,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("sig", "code", "args"), [(signal.SIGINT, 130, ()), (signal.SIGTERM, 143, ("--workers", "1"))]
)
def test_a_signal_stops_the_worker_cleanly(
    tmp_path: Path, sig: signal.Signals, code: int, args: tuple[str, ...]
) -> None:
    path = write_study(tmp_path, n_trials=1, space=SLOW_CNN)
    storage = sqlite_url(tmp_path)
    worker = start(path, *args)
    number = wait_for_running_trial(storage, worker)
    worker.send_signal(sig)
    exit_code, out = finish(worker)
    assert exit_code == code, out
    # The last line is the one-line message (TensorFlow may print its own noise before it).
    assert out.strip().splitlines()[-1].startswith("interrupted (interrupted by")

    study = load_study(storage)
    [stopped] = failed(study)
    assert stopped.number == number
    assert stopped.user_attrs["fail_reason"] == f"interrupted by {sig.name}"
    [run] = trial_runs(mlflow_client(tmp_path), "tiny")[str(number)]
    assert run.info.status == "FAILED"
    assert run.data.tags["fail_reason"] == f"interrupted by {sig.name}"
    if sig == signal.SIGTERM:  # starting again continues the study
        again, out = finish(start(path))
        assert again == 0, out
        assert_exact_study(load_study(storage), 1, mlflow_client(tmp_path))
