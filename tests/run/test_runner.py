"""Tests for fashion_models.run.runner: the whole path of a study on real data, a real SQLite
Optuna storage and a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from fashion_models.search.queries import best_completed_trial
from fashion_models.serving.pyfunc import load as load_serving_model
from tests.helpers import run_study_file, trial_run_list, write_study

pytestmark = pytest.mark.slow


def test_study_trains_tracks_and_registers(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=3)
    study, promotion = run_study_file(path)

    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    client = MlflowClient()
    runs = {r.info.run_id: r for r in trial_run_list(client, "tiny")}
    # One run per trial, and every run belongs to a trial.
    assert sorted(runs) == sorted(t.user_attrs["mlflow_run_id"] for t in trials)
    for trial in trials:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.trial"] == str(trial.number)
        assert run.data.tags["optuna.study"] == "tiny"
        assert run.data.tags["optuna.state"] == "COMPLETE"
        assert run.data.params["filters_0"] == str(trial.params["filters_0"])
        assert run.data.params["epochs"] == "1"
        assert 0.0 < run.data.metrics["test_accuracy"] <= 1.0
        assert run.data.metrics["final_val_accuracy"] == pytest.approx(trial.value)
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [0]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "confusion_matrix.png" in artifacts

    best = best_completed_trial(study)
    assert best is not None
    assert promotion is not None and promotion.promoted
    assert promotion.trial == best.number
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert str(version.version) == promotion.version
    assert version.tags["optuna.trial"] == str(best.number)
    assert float(version.tags["test_accuracy"]) == pytest.approx(best.user_attrs["test_accuracy"])

    # The registered model is the servable pyfunc around the trained Keras model, with its
    # signature (images in, classes out; tests/serving covers what it answers).
    model = load_serving_model("models:/tiny-model@champion").keras_model
    images = np.zeros((4, 28, 28, 1), dtype=np.float32)
    assert model.predict(images, verbose=0).shape == (4, 10)
    info = mlflow.models.get_model_info("models:/tiny-model@champion")
    assert info.signature is not None
    assert info.saved_input_example_info is not None


def test_finishing_with_another_tracking_store_says_the_trials_runs_are_not_there(
    tmp_path: Path,
) -> None:
    from fashion_models.config.study_file import load_config
    from fashion_models.errors import FatalError
    from fashion_models.run.runner import finish_existing

    path = write_study(tmp_path, n_trials=1)
    study, promotion = run_study_file(path)
    assert promotion is not None
    # The same study continued from a checkout with an empty tracking store of its own.
    elsewhere = f"sqlite:///{tmp_path}/elsewhere/mlflow.db"
    (tmp_path / "elsewhere").mkdir()
    config = load_config(path, env={"MLFLOW_TRACKING_URI": elsewhere})
    with pytest.raises(FatalError) as info:
        finish_existing(config, echo=lambda _: None)
    message = str(info.value)
    run_id = study.trials[0].user_attrs["mlflow_run_id"]
    assert message.startswith(f"trial 0's MLflow run {run_id} is not in the tracking store ")
    assert "promote a trial of this store" in message and "\n" not in message
    mlflow.set_tracking_uri(elsewhere)
    assert not MlflowClient().search_registered_models()
