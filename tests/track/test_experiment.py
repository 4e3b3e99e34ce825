"""Tests for fashion_models.track.experiment: the MLflow store a study writes, read and written
through a real `mlflow server` (the README's recipe for several machines)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import (
    BIN,
    assert_exact_study,
    finish,
    free_port,
    get_json,
    load_study,
    serving,
    sqlite_url,
    start,
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
