"""`create`, `run --no-finish` and `finish`: one study split the way a scheduler runs it (a
create job, N worker tasks, a finish job), driven as `optuna-run` processes on real SQLite
and MLflow stores."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from fashion_models.search.queries import best_completed_trial
from tests.helpers import (
    OPTUNA_RUN,
    assert_exact_study,
    cli_env,
    finish,
    load_study,
    mlflow_client,
    sqlite_url,
    start,
    write_study,
)

pytestmark = pytest.mark.slow


def run(path: Path, *args: str) -> tuple[int, str]:
    """`optuna-run ARGS PATH` as its own process in the study's folder: (exit code, output)."""
    done = subprocess.run(
        [OPTUNA_RUN, *args, str(path)], cwd=path.parent, env=cli_env(),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_create_then_workers_then_finish_registers_once(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=3)
    code, out = run(path, "create")
    assert code == 0, out
    assert "study 'tiny' ready" in out and "(0/3 trials)" in out
    assert load_study(sqlite_url(tmp_path)).trials == []
    code, out = run(path, "create")  # a second create only finds what is there
    assert code == 0, out

    workers = [start(path, "--no-finish") for _ in range(2)]
    for worker in workers:
        code, out = finish(worker)
        assert code == 0, out
        assert "registry" not in out and "final retrain" not in out
    client = mlflow_client(tmp_path)
    assert client.search_registered_models() == []  # workers register nothing

    code, out = run(path, "finish")
    assert code == 0, out
    study = load_study(sqlite_url(tmp_path))
    assert_exact_study(study, 3, client)
    [model] = client.search_registered_models()
    version = client.get_model_version_by_alias(model.name, "champion")
    assert version.tags["optuna.trial"] == str(best_completed_trial(study).number)
    assert f"best trial {best_completed_trial(study).number}" in out

    code, out = run(path, "finish")  # once is enough: a second finish moves nothing
    assert code == 0, out
    assert len(client.search_model_versions(f"name='{model.name}'")) == 1


def test_finish_without_a_complete_trial_says_so(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=2)
    assert run(path, "create")[0] == 0
    code, out = run(path, "finish")
    assert code == 1, out
    assert "holds no complete trial (0/2 trials): nothing to register" in out
    assert "Traceback" not in out


def test_no_finish_runs_one_worker_only(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=2)
    code, out = run(path, "run", "--no-finish", "--workers", "2")
    assert code == 2, out
    assert "--no-finish runs one worker" in out
    assert not (tmp_path / "store").exists()  # nothing written


def test_finish_of_a_study_short_of_n_trials_finishes_with_what_it_holds(
    tmp_path: Path,
) -> None:
    path = write_study(tmp_path, n_trials=1)
    assert run(path, "run", "--no-finish")[0] == 0
    raised = write_study(tmp_path, n_trials=3)  # as if two workers were cancelled
    code, out = run(raised, "finish")
    assert code == 0, out
    assert "holds 1 of 3 trials: finishing with them" in out
    assert MlflowClient(f"sqlite:///{tmp_path}/store/mlflow.db").search_registered_models()
