"""Tests for fashion_models.search.storages: the Optuna storage a study writes, read by a real
`optuna-dashboard` (the session's finished study); fresh PostgreSQL stores created by workers
that all start at the same moment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from fashion_models.config.study_file import load_config
from fashion_models.search.study import load_existing_study
from tests.helpers import (
    BIN,
    assert_exact_study,
    failed,
    finish,
    free_port,
    get_json,
    load_study,
    serving,
    start,
    write_study,
)

pytestmark = pytest.mark.slow


def test_optuna_dashboard_serves_the_study(finished: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    storage = f"sqlite:///{finished.parent}/store/optuna.db"
    command = [str(BIN / "optuna-dashboard"), storage, "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, f"{url}/api/meta", tmp_path / "dashboard.log"):
        studies = get_json(f"{url}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        detail = get_json(f"{url}/api/studies/{studies[0]['study_id']}")
        assert [t["state"] for t in detail["trials"]] == ["Complete"] * 3
        study = load_existing_study(load_config(finished, env={}))
        assert detail["best_trials"][0]["number"] == study.best_trial.number


def test_four_workers_started_together_on_fresh_postgresql(
    tmp_path: Path, pg_url: str, pg_databases: Callable[[], str]
) -> None:
    # Four shells started at the same moment against empty databases: the Optuna schema, the
    # study, the MLflow schema (a PostgreSQL tracking store), the experiment and the study run
    # are each created once, and every worker joins the one study.
    tracking = pg_databases()
    path = write_study(tmp_path, n_trials=6)
    env = {"OPTUNA_STORAGE": pg_url, "MLFLOW_TRACKING_URI": tracking}
    env["TF_NUM_INTRAOP_THREADS"] = "1"  # four processes on two cores
    workers = [start(path, env=env) for _ in range(4)]
    results = [finish(worker) for worker in workers]
    for code, out in results:
        assert code == 0, out
    mlflow.set_tracking_uri(tracking)
    client = MlflowClient()
    study = load_study(pg_url)
    # Exactly n_trials, one run each: the claims hold with four workers (a count that read the
    # study twice once let a trial that ended between the reads make room for a 7th).
    assert_exact_study(study, 6, client)
    assert not failed(study)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment is not None
    study_runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`optuna.kind` = 'study'"
    )
    assert len(study_runs) == 1
