"""Tests for fashion_models.track.datasets: every run records the images it trained, validated
and tested on as MLflow datasets, read back from the session's finished study."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Run

from fashion_models.config.study_file import load_config
from fashion_models.run.session import study_splits
from fashion_models.search.study import load_existing_study
from fashion_models.train.data import load_fashion_mnist
from tests.helpers import mlflow_client

pytestmark = pytest.mark.slow


def _inputs(run: Run) -> dict[str, tuple[str, str]]:
    """context -> (dataset name, digest) of the run's inputs."""
    return {
        next(t.value for t in d.tags if t.key == "mlflow.data.context"): (
            d.dataset.name,
            d.dataset.digest,
        )
        for d in run.inputs.dataset_inputs
    }


def _digest(*arrays: np.ndarray) -> str:
    checksum = hashlib.sha256()
    for array in arrays:
        checksum.update(np.ascontiguousarray(array).data)
    return checksum.hexdigest()[:32]


def test_each_run_records_the_images_it_saw(finished: Path) -> None:
    client = mlflow_client(finished.parent)
    config = load_config(finished, env={})
    study = load_existing_study(config)
    splits = study_splits(config)
    expected = {
        "training": ("fashion-mnist-training", _digest(splits.x_train, splits.y_train)),
        "validation": ("fashion-mnist-validation", _digest(splits.x_val, splits.y_val)),
        "test": ("fashion-mnist-test", _digest(splits.x_test, splits.y_test)),
    }
    # Every trial saw the same three splits: one digest each, shared across the trials.
    for trial in study.trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert _inputs(run) == expected
    source = client.get_run(study.trials[0].user_attrs["mlflow_run_id"]).inputs
    assert str(load_fashion_mnist().source) in source.dataset_inputs[0].dataset.source

    # The final retrain trained on train + validation of its own 800 images, and was tested on
    # the same test images as the trials.
    final = client.search_runs([run.info.experiment_id], "tags.`optuna.kind` = 'final'")[0]
    retrain = study_splits(config, train_size=800)
    both = (
        np.concatenate([retrain.x_train, retrain.x_val]),
        np.concatenate([retrain.y_train, retrain.y_val]),
    )
    assert _inputs(final) == {
        "training": ("fashion-mnist-training", _digest(*both)),
        "test": expected["test"],
    }
