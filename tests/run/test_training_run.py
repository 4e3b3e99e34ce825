"""Tests for fashion_models.run.training_run: one model trained with the new vocabulary and
logged into a real MLflow store, then registered and served; test-time augmentation gives the
same answers in evaluation, in the logged Keras model and in the served pyfunc."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import mlflow
import numpy as np
import pytest
from mlflow.entities.model_registry import ModelVersion

from fashion_models.run.training_run import TrainedModel, augmentation, train_and_log
from fashion_models.serving import pyfunc
from fashion_models.serving.catalog import embed
from fashion_models.serving.pyfunc import log_serving_model
from fashion_models.track.registry import Candidate, register
from fashion_models.track.trial_run import TrialRun
from fashion_models.train.data import CLASS_NAMES, Splits
from fashion_models.train.model import classifier_of
from fashion_models.train.pipeline import Augmentation
from tests.helpers import mlflow_client
from tests.serving.photos import photo

pytestmark = pytest.mark.slow

PARAMS: dict[str, Any] = {
    "conv_layers": 2,
    "filters": 8,
    "pooling": "max",
    "batch_norm": True,
    "dense_units": 16,
    "learning_rate": 0.005,
    "lr_schedule": "one_cycle",
    "label_smoothing": 0.1,
    "augment_shift": 2,
    "augment_flip": True,
    "tta": "flip",
    "precision": "bfloat16",
    "epochs": 2,
}


@dataclass(frozen=True)
class Logged:
    trained: TrainedModel
    version: ModelVersion
    progress: list[str]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, small_splits: Splits) -> Logged:
    """PARAMS trained on 480 images in a trial run of a fresh store, and registered."""
    root = tmp_path_factory.mktemp("training_run")
    client = mlflow_client(root)
    experiment = client.create_experiment("tta")
    lines: list[str] = []
    with TrialRun(experiment, "tta", 0, {}, params={"model": "cnn", **PARAMS}) as run:
        trained = train_and_log(
            run, "cnn", PARAMS, 0, small_splits, progress=lines.append, label="trial 0"
        )
        run.mark("COMPLETE")
    candidate = Candidate("tta", 0, run.run_id, trained.model_uri, trained.test.accuracy)
    version = register(candidate, "tta-model", log_serving_model)
    keras.backend.clear_session()
    return Logged(trained, version, lines)


def mirrored_mean(network: keras.Model, x: np.ndarray) -> np.ndarray:
    both = network.predict(x, verbose=0) + network.predict(x[:, :, ::-1], verbose=0)
    return np.asarray(both / 2)


def test_the_logged_model_predicts_with_tta_as_evaluated(
    logged: Logged, small_splits: Splits
) -> None:
    model = mlflow.keras.load_model(logged.trained.model_uri)
    network = classifier_of(model)
    assert network is not model and network.name == "cnn"
    assert network.get_layer("conv_0").compute_dtype == "bfloat16"
    x, y = small_splits.x_test, small_splits.y_test
    probabilities = model.predict(x, verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, mirrored_mean(network, x), rtol=1e-5, atol=1e-6)
    # The test accuracy logged is the TTA model's, and it is not the bare network's.
    predicted = probabilities.argmax(axis=1)
    np.testing.assert_array_equal(predicted, logged.trained.test.y_pred)
    assert logged.trained.test.accuracy == pytest.approx(np.mean(predicted == y))
    assert not np.array_equal(network.predict(x, verbose=0).argmax(axis=1), predicted)
    assert logged.trained.test.accuracy > 0.4  # it learned something (chance is 0.1)
    run = mlflow.get_run(logged.version.run_id)
    assert run.data.metrics["test_accuracy"] == pytest.approx(logged.trained.test.accuracy)
    assert logged.trained.param_count == network.count_params()


def test_the_served_model_answers_with_tta_from_photos(
    logged: Logged, small_splits: Splits
) -> None:
    photos = [photo(image, "PNG") for image in small_splits.x_test[:8]]
    served = pyfunc.load(f"models:/tta-model/{logged.version.version}")
    answers = pyfunc.classify(served.keras_model, photos)
    inputs = np.stack([pyfunc.prepare(p) for p in photos])  # float32, as the shop uploads
    network = classifier_of(served.keras_model)
    expected = mirrored_mean(network, inputs)
    served_top = np.array([[p for _, p in answer.top] for answer in answers])
    # bfloat16 inside: a direct call and predict() round differently, by ~1e-4.
    np.testing.assert_allclose(served_top, -np.sort(-expected)[:, :3], atol=2e-3)
    # The served class is the expected answer's best, or within bfloat16's rounding of it
    # (a near tie: the views batched through the network round unlike two separate calls).
    for answer, probabilities in zip(answers, expected, strict=True):
        chosen = probabilities[CLASS_NAMES.index(answer.class_name)]
        assert chosen >= probabilities.max() - 2e-3
    bare = -np.sort(-network.predict(inputs, verbose=0))[:, :3]
    assert np.abs(served_top - bare).max() > 0.02  # the served answer is not the bare network's
    # The catalog embeds with the network inside the wrapper; its classes are the TTA ones.
    features, classes, errors = embed(served.keras_model, photos)
    # The penultimate layer of the network inside: dense_0's batch norm.
    assert errors == {} and features.shape == (8, 16)
    inside = keras.Model(network.inputs[0], network.get_layer("dense_0_bn").output)
    np.testing.assert_allclose(features, inside(inputs, training=False), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(classes, [CLASS_NAMES.index(a.class_name) for a in answers])


def test_the_registered_version_says_how_it_predicts(logged: Logged) -> None:
    assert logged.version.tags["tta"] == "flip"
    assert logged.version.tags["precision"] == "bfloat16"


def test_a_short_run_prints_no_progress(logged: Logged) -> None:
    assert logged.progress == []  # a few seconds in all: under the 30 s that earn a line each


def test_augmentation_from_params() -> None:
    assert augmentation({}) == Augmentation(shift=0, flip=False, erasing=0.0)
    assert not augmentation({}).active
    assert augmentation(PARAMS) == Augmentation(shift=2, flip=True, erasing=0.0)
    assert augmentation({"augment_erasing": 0.25}) == Augmentation(erasing=0.25)


def test_logged_params_reach_the_run(logged: Logged) -> None:
    run = mlflow.get_run(logged.version.run_id)
    assert run.data.params["tta"] == "flip"
    assert run.data.params["precision"] == "bfloat16"
