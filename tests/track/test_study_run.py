"""Tests for fashion_models.track.study_run: one MLflow run per study, the parent of its trial
runs, holding the study-level figures (the session's finished study, and racing workers)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from fashion_models.config.study_file import load_config
from fashion_models.search.queries import best_completed_trial
from fashion_models.search.study import load_existing_study, open_study
from fashion_models.track import experiment as tracking
from fashion_models.track.study_run import ensure_study_run
from tests.helpers import cli, mlflow_client, write_study

pytestmark = pytest.mark.slow


def test_study_run_nests_trials_and_holds_figures(finished: Path) -> None:
    client = mlflow_client(finished.parent)
    study = load_existing_study(load_config(finished, env={}))
    parent = study.user_attrs["mlflow_study_run_id"]
    exp = client.get_experiment_by_name("tiny")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    kinds = sorted(r.data.tags.get("optuna.kind", "trial") for r in runs)
    assert kinds == ["final", "study", "trial", "trial", "trial"]  # one study run, not one a worker
    for run in runs:
        if run.info.run_id != parent:
            assert run.data.tags["mlflow.parentRunId"] == parent
    figures = {a.path for a in client.list_artifacts(parent, "study")}
    for name in ("optimization_history", "param_importances", "intermediate_values"):
        assert f"study/{name}.png" in figures
    assert "study/slice_layers_epochs.png" in figures
    assert client.get_run(parent).data.tags["best_trial"] == str(best_completed_trial(study).number)


def test_report_redraws_on_the_same_study_run(finished: Path) -> None:
    study = load_existing_study(load_config(finished, env={}))
    result = cli("report", str(finished))
    assert result.exit_code == 0, result.output
    assert study.user_attrs["mlflow_study_run_id"] in result.output
    assert "study/optimization_history.png" in result.output


def test_workers_racing_for_the_study_run_share_one(tmp_path: Path) -> None:
    config = load_config(write_study(tmp_path, name="racing"), env={})
    tracking.connect(config.tracking.uri)
    experiment_id = tracking.ensure_experiment("racing", config.tracking.uri)
    open_study(config)  # created once: racing to create Optuna's tables is not under test
    ids: list[str] = []

    def worker() -> None:
        study = open_study(config).study  # each worker joins the study on its own
        ids.append(ensure_study_run(study, experiment_id, config))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = MlflowClient().search_runs([experiment_id])
    assert len(ids) == 4 and len(set(ids)) == 1
    assert [r.info.run_id for r in runs] == ids[:1]
