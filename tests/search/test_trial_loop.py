"""Tests for fashion_models.search.trial_loop: exactly n_trials however many workers claim
trials, and the study stops after too many failed trials in a row (real data, real stores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.errors import FatalError as FatalStudyError
from tests.helpers import (
    TINY_CNN,
    assert_exact_study,
    failed,
    finish,
    load_study,
    mlflow_client,
    run_study_file,
    sqlite_url,
    start,
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
