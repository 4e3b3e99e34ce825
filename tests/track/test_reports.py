"""Tests for fashion_models.track.reports (and the lineage tags beside them): what a trial's
run holds beyond its metrics, read back from the session's finished study."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from fashion_models.config.study_file import load_config
from fashion_models.search.study import load_existing_study
from fashion_models.track.lineage import lineage_tags
from fashion_models.train.data import CLASS_NAMES
from fashion_models.train.metrics import class_slug
from tests.helpers import mlflow_client

pytestmark = pytest.mark.slow


def test_trial_runs_hold_reports_and_lineage(finished: Path) -> None:
    client = mlflow_client(finished.parent)
    study = load_existing_study(load_config(finished, env={}))
    trial = study.best_trial
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    expected = {"classification_report.json", "classification_report.txt", "misclassified.png",
                "training_curves.png", "model_summary.txt", "confusion_matrix.png"}  # fmt: skip
    assert expected <= artifacts
    report = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/classification_report.json")
    assert set(CLASS_NAMES) <= set(report)
    assert report["Trouser"]["support"] == 50  # 500 stratified test images, 10 classes
    metrics = run.data.metrics
    for name in CLASS_NAMES:
        assert metrics[f"test_f1_{class_slug(name)}"] == pytest.approx(report[name]["f1-score"])
    assert metrics["param_count"] == trial.user_attrs["param_count"]
    for key in ("git_commit", "python", "tensorflow", "keras", "optuna", "mlflow", "host",
                "device", "data_sha256", "data_sha256.train_images"):  # fmt: skip
        assert run.data.tags[f"lineage.{key}"] == lineage_tags()[f"lineage.{key}"]
    assert run.data.tags["seed"] == str(3 + trial.number)
