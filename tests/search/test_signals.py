"""Tests for fashion_models.search.signals: SIGINT and SIGTERM stop a worker cleanly (a real
`optuna-run` process in the middle of a trial on real data)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from fashion_models.search.signals import (
    Interrupted,
    interruptible,
    raise_if_interrupted,
    stop_on_signals,
)
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


def test_a_signal_in_the_bookkeeping_waits_for_the_next_safe_point() -> None:
    # Outside the objective (Optuna creating or telling a trial) the signal is held back, so
    # that Optuna never fails a trial that nothing recorded; the objective's start raises it.
    with stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this thread: no raise
        with pytest.raises(Interrupted) as raised, interruptible():
            pytest.fail("the held-back signal did not stop the objective at its start")
    assert raised.value.exit_code == 143


def test_a_held_back_signal_stops_the_loop_at_its_next_safe_point() -> None:
    with pytest.raises(Interrupted) as raised, stop_on_signals():
        os.kill(os.getpid(), signal.SIGINT)
        raise_if_interrupted()
    assert raised.value.exit_code == 130


def test_a_signal_inside_the_objective_raises_at_once() -> None:
    with pytest.raises(Interrupted), stop_on_signals(), interruptible():
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("the signal did not interrupt the objective")


def test_an_interrupted_that_came_out_as_another_error_still_interrupts() -> None:
    # C code that calls back into Python may drop the Interrupted our handler raised and
    # return another error instead (CI: "SystemError: Objects/listobject.c:338: bad argument
    # to internal function"); with a signal pending, that error is the interruption.
    with pytest.raises(Interrupted) as raised, stop_on_signals(), interruptible():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Interrupted:
            raise SystemError("bad argument to internal function") from None
    assert raised.value.exit_code == 143
    assert isinstance(raised.value.__context__, SystemError)


def test_an_error_without_a_signal_stays_that_error() -> None:
    with pytest.raises(SystemError), stop_on_signals(), interruptible():
        raise SystemError("bad argument to internal function")


def test_without_a_signal_nothing_is_raised() -> None:
    with stop_on_signals():
        raise_if_interrupted()
        with interruptible():
            pass


@pytest.mark.slow
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
