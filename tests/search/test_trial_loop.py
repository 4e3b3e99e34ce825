"""Tests for fashion_models.search.trial_loop: exactly n_trials however many workers claim
trials, and the study stops after too many failed trials in a row (real data, real stores)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from optuna.trial import TrialState

from fashion_models.errors import FatalError as FatalStudyError
from tests.helpers import (
    SLOW_CNN,
    TINY_CNN,
    assert_exact_study,
    failed,
    finish,
    load_study,
    mlflow_client,
    run_study_file,
    sqlite_url,
    start,
    wait_for_running_trial,
    write_study,
)

pytestmark = pytest.mark.slow


def test_three_workers_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    path = write_study(tmp_path, n_trials=4)
    code, out = finish(start(path, "--workers", "3", env={"OPTUNA_STORAGE": pg_url}))
    assert code == 0, out
    assert_exact_study(load_study(pg_url), 4, mlflow_client(tmp_path))


def test_too_many_failures_in_a_row_stop_the_study(tmp_path: Path) -> None:
    space = TINY_CNN.replace(
        "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: fixed, value: 6}"
    )
    path = write_study(tmp_path, n_trials=10, space=space)
    with pytest.raises(FatalStudyError, match="5 failed trials in a row"):
        run_study_file(path)


def test_the_consecutive_failure_limit_is_configurable(tmp_path: Path) -> None:
    space = TINY_CNN.replace(
        "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: fixed, value: 6}"
    )
    extra = "workers: {max_consecutive_failures: 2}"
    path = write_study(tmp_path, n_trials=10, space=space, extra=extra)
    code, out = finish(start(path))
    assert code == 1
    assert "error: stopped after 2 failed trials in a row" in out
    assert len(failed(load_study(sqlite_url(tmp_path)))) == 2


def test_an_interrupted_grid_point_is_trained_in_the_next_sitting(tmp_path: Path) -> None:
    """Optuna's grid counts a failed point as visited: a design run in several sittings would
    lose each point a Ctrl-C stopped. The next start queues it again, once."""
    space = SLOW_CNN.replace(
        "filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}",
        "filters: {type: categorical, choices: [8, 16]}",
    ).replace(
        "learning_rate: {type: float, low: 1.0e-3, high: 5.0e-3, log: true}",
        "learning_rate: {type: fixed, value: 2.0e-3}",
    )
    path = write_study(tmp_path, n_trials=2, space=space, sampler="{type: grid}")
    storage = sqlite_url(tmp_path)
    worker = start(path)
    number = wait_for_running_trial(storage, worker)
    worker.send_signal(signal.SIGINT)
    assert finish(worker)[0] == 130
    [stopped] = failed(load_study(storage))
    assert stopped.number == number and stopped.user_attrs["interrupted"] is True

    code, out = finish(start(path))
    assert code == 0, out
    assert f"grid point of interrupted trial {number} queued again" in out
    study = load_study(storage)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params["filters"] for t in complete) == [8, 16]  # the whole grid
    [retry] = [t for t in complete if t.user_attrs.get("retry_of") == number]
    assert retry.params == stopped.params
    code, out = finish(start(path))  # nothing left: a third sitting queues nothing
    assert code == 0 and "queued again" not in out, out
