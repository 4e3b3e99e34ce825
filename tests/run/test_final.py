"""Tests for fashion_models.run.final: the final retrain of the best configuration is the model
registered (the session's finished study)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.config.study_file import load_config
from fashion_models.search.queries import best_completed_trial
from fashion_models.search.study import load_existing_study
from fashion_models.track.lineage import lineage_tags
from tests.helpers import cli, mlflow_client

pytestmark = pytest.mark.slow


def test_final_retrain_is_the_registered_model(finished: Path) -> None:
    client = mlflow_client(finished.parent)
    study = load_existing_study(load_config(finished, env={}))
    final = study.user_attrs["final_retrain"]
    run = client.get_run(final["run_id"])
    assert run.data.tags["optuna.kind"] == "final"
    # final.train_size: 800 of the 60,000 (the trials had 600), train + validation together
    assert run.data.metrics["train_images"] == 800
    # It trained on the validation images as well: no validation pass, no val_* numbers.
    assert not [name for name in run.data.metrics if name.startswith("val_")]
    assert "test_accuracy" in run.data.metrics
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert version.run_id == final["run_id"]
    assert float(version.tags["test_accuracy"]) == pytest.approx(run.data.metrics["test_accuracy"])
    assert version.tags["optuna.study"] == "tiny"
    assert version.tags["optuna.trial"] == str(best_completed_trial(study).number)
    assert version.tags["data_sha256"] == lineage_tags()["lineage.data_sha256"]
    assert version.tags["git_commit"] == lineage_tags()["lineage.git_commit"]
    # Running the finished study again neither retrains nor registers again.
    assert cli(str(finished)).exit_code == 0
    assert study.user_attrs["final_retrain"] == final
    assert len(client.search_model_versions("name = 'tiny-model'")) == 1
