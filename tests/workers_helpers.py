"""Driving `optuna-run` as separate processes, and reading back what they left in the stores."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import psycopg
import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from fashion_models.search.claims import store_init_lock

OPTUNA_RUN = str(Path(sys.executable).parent / "optuna-run")
PG_SERVER = "postgres@127.0.0.1:5432"
# mlflow.set_tracking_uri() in the test process exports MLFLOW_TRACKING_URI: a worker must
# only see the overrides its test gives it.
OVERRIDES = ("MLFLOW_TRACKING_URI", "OPTUNA_STORAGE")
_started: list[subprocess.Popen] = []


def start(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`optuna-run PATH ARGS` in the study file's directory, as a user would start it."""
    base = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    process = subprocess.Popen(
        [OPTUNA_RUN, str(path), *args],
        cwd=path.parent,
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that the cleanup below reaches its workers too
    )
    _started.append(process)
    return process


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A failed test must not leave its workers running."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store/optuna.db"


def load(storage: str, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def wait_for_running_trial(storage: str, process: subprocess.Popen, timeout: float = 120) -> int:
    """The number of a trial that is RUNNING and already has its MLflow run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        db = Path(storage.removeprefix("sqlite:///"))
        try:  # under the worker's store-creation lock: reading must not race its schema setup
            with store_init_lock(storage):
                running = (
                    load(storage).get_trials(states=(TrialState.RUNNING,)) if db.exists() else []
                )
        except (KeyError, ValueError, sqlalchemy.exc.SQLAlchemyError):  # not created yet
            running = []
        for trial in running:
            if "mlflow_run_id" in trial.user_attrs:
                return trial.number
        time.sleep(0.5)
    raise AssertionError("no trial started in time")


def assert_exact_study(study: optuna.Study, n_trials: int, client: MlflowClient) -> None:
    """n_trials finished trials, unique numbers, and one MLflow run per trial (and back)."""
    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))
    runs = trial_runs(client, study.study_name)
    assert sorted(runs) == sorted(str(n) for n in numbers)
    assert all(len(r) == 1 for r in runs.values())
    for trial in finished:
        assert runs[str(trial.number)][0].info.run_id == trial.user_attrs["mlflow_run_id"]


def trial_runs(client: MlflowClient, experiment: str) -> dict[str, list]:
    """The experiment's runs, by the trial number they are tagged with."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    out: dict[str, list] = {}
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        if "optuna.kind" in run.data.tags:  # the study run and a final retrain: no trial's
            continue
        out.setdefault(run.data.tags["optuna.trial"], []).append(run)
    return out


def failed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(states=(TrialState.FAIL,))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server beside the tests, dropped afterwards."""
    name = f"fm_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):  # CI's machine has the server: its absence is a failure there
            pytest.fail(f"no PostgreSQL server at {PG_SERVER}: {exc}")
        pytest.skip(f"no PostgreSQL server at {PG_SERVER}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://{PG_SERVER}/{name}"
    with psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
