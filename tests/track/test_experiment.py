"""Tests for fashion_models.track.experiment: the MLflow store a study writes, read and written
through a real `mlflow server` (the README's recipe for several machines), and a server that is
killed and restarted in the middle of a trial."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import (
    BIN,
    SLOW_CNN,
    assert_exact_study,
    failed,
    finish,
    free_port,
    get_json,
    load_study,
    serving,
    sqlite_url,
    start,
    trial_runs,
    wait_for_running_trial,
    write_study,
)

pytestmark = pytest.mark.slow


def test_mlflow_server_serves_the_runs(finished: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{finished.parent}/store/mlflow.db"
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri", store,
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    with serving(command, f"{url}/health", tmp_path / "mlflow.log"):
        exp = get_json(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny")
        body = {"experiment_ids": [exp["experiment"]["experiment_id"]], "max_results": 100}
        runs = get_json(f"{url}/api/2.0/mlflow/runs/search", body)["runs"]
        trials = [r for r in runs if r["info"]["run_name"].startswith("tiny-trial-")]
        assert len(runs) == 5 and len(trials) == 3
        for run in trials:
            metrics = {m["key"] for m in run["data"]["metrics"]}
            assert {"test_accuracy", "val_accuracy", "test_f1_bag"} <= metrics
            run_id = run["info"]["run_id"]
            listed = get_json(f"{url}/api/2.0/mlflow/artifacts/list?run_id={run_id}")
            paths = {f["path"] for f in listed["files"]}
            assert {"classification_report.json", "misclassified.png"} <= paths
        alias = "registered-models/alias?name=tiny-model&alias=champion"
        version = get_json(f"{url}/api/2.0/mlflow/{alias}")["model_version"]
        assert {t["key"] for t in version["tags"]} >= {"test_accuracy", "data_sha256"}


def test_workers_against_a_real_mlflow_server(tmp_path: Path, pg_url: str) -> None:
    # The README's recipe for several machines: a tracking server with a PostgreSQL backend
    # store and an artifact store that the workers reach only through the server.
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", pg_url,
               "--artifacts-destination", f"{tmp_path}/server/artifacts"]  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    with serving(command, f"{uri}/health", tmp_path / "mlflow.log", timeout=120):
        path = write_study(tmp_path, n_trials=3)
        code, out = finish(start(path, "--workers", "2", env={"MLFLOW_TRACKING_URI": uri}))
        assert code == 0, out
        mlflow.set_tracking_uri(uri)
        study = load_study(sqlite_url(tmp_path))
        assert_exact_study(study, 3, MlflowClient())
        # Artifacts went through the server to its artifact store, not to a local path.
        assert list((tmp_path / "server" / "artifacts").rglob("confusion_matrix.png"))


def test_a_trial_rides_out_a_tracking_server_restart(tmp_path: Path) -> None:
    # The server is killed (SIGKILL) while a trial trains and logs, and comes back on the same
    # port a few seconds later: the trial's metrics and artifacts are retried, not lost.
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{tmp_path}/server/mlflow.db",
               "--artifacts-destination", f"{tmp_path}/server/artifacts"]  # fmt: skip
    (tmp_path / "server").mkdir()
    with serving(command, f"{uri}/health", tmp_path / "mlflow-1.log", timeout=120, kill=True):
        path = write_study(tmp_path, n_trials=2, space=SLOW_CNN)
        worker = start(path, env={"MLFLOW_TRACKING_URI": uri})
        number = wait_for_running_trial(sqlite_url(tmp_path), worker)
    # Killed on leaving the block; down for a while, then started again.
    time.sleep(3)
    assert worker.poll() is None, "the worker stopped while the tracking server was down"
    with serving(command, f"{uri}/health", tmp_path / "mlflow-2.log", timeout=120):
        code, out = finish(worker)
        assert code == 0, out
        mlflow.set_tracking_uri(uri)
        client = MlflowClient()
        study = load_study(sqlite_url(tmp_path))
        assert_exact_study(study, 2, client)
        assert not failed(study), out
        [run] = trial_runs(client, "tiny")[str(number)]
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == "COMPLETE"
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            steps = {m.step for m in client.get_metric_history(run.info.run_id, metric)}
            assert steps == {0, 1, 2}, metric
        assert {"test_accuracy", "final_val_accuracy"} <= set(run.data.metrics)
        assert "confusion_matrix.png" in {f.path for f in client.list_artifacts(run.info.run_id)}
        model_uri = study.trials[number].user_attrs["mlflow_model_uri"]
        assert mlflow.models.get_model_info(model_uri).signature is not None
