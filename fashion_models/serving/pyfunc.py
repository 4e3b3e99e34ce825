"""The servable model: an MLflow pyfunc that takes image bytes and returns garment classes.

It wraps a trial's logged Keras model (kept whole as an artifact, so the Keras model stays
reachable for embeddings) and ships this package as code, so `mlflow models serve` and the CLI
run the very same decoding and preprocessing.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel, PythonModel
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
from PIL import Image

from fashion_models.serving.images import ImageError, as_bytes, decode
from fashion_models.serving.preprocess import preprocess
from fashion_models.train.data import CLASS_NAMES
from fashion_models.train.model import MODEL_REQUIREMENTS

SERVING_ARTIFACT = "serving_model"
TOP_K = 3
# `errors`: "raise" (default) fails the call with a 400 naming every bad image; "report"
# answers every good image and gives each bad one its `error`.
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec(DataType.binary, "image")]),
    params=ParamSchema([ParamSpec("errors", DataType.string, "raise")]),
)
_REQUIREMENTS = [*MODEL_REQUIREMENTS, *(f"{p}=={version(p)}" for p in ("pandas", "pillow"))]


@dataclass(frozen=True)
class Prediction:
    """One image's answer: the class and the top classes with probabilities, or its error."""

    class_name: str | None = None
    probability: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The answer as the servable model and the HTTP service give it."""
        return {
            "class_name": self.class_name,
            "probability": self.probability,
            "top_classes": [name for name, _ in self.top],
            "top_probabilities": [p for _, p in self.top],
            "error": self.error,
        }


def prepare(data: Any) -> np.ndarray:
    """Image bytes (or base64) -> the model's (28, 28, 1) input. Raises ImageError."""
    return preprocess(decode(as_bytes(data)))


def prepare_all(images: list[Any]) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, str]]:
    """The batch of good inputs, their positions, and the error of each bad image."""
    good: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    for i, data in enumerate(images):
        try:
            good[i] = prepare(data)
        except ImageError as err:
            errors[i] = str(err)
    batch = np.stack(list(good.values())) if good else np.zeros((0, 28, 28, 1), np.float32)
    return batch, good, errors


def classify(keras_model: Any, images: list[Any]) -> list[Prediction]:
    """One Prediction per image, in order; a bad image gets its error, the others an answer."""
    batch, good, errors = prepare_all(images)
    # A direct call, not predict(): no retracing per batch size, no progress bar.
    probs = np.asarray(keras_model(batch, training=False)) if len(batch) else np.zeros((0, 10))
    answers = dict(zip(good, probs, strict=True))
    return [
        Prediction(error=errors[i]) if i in errors else prediction(answers[i])
        for i in range(len(images))
    ]


def prediction(probabilities: np.ndarray) -> Prediction:
    """One image's answer from its class probabilities: the class and the top TOP_K."""
    order = np.argsort(-probabilities)[:TOP_K]
    top = [(CLASS_NAMES[k], float(probabilities[k])) for k in order]
    return Prediction(top[0][0], top[0][1], top)


class GarmentClassifier(PythonModel):
    """pyfunc: DataFrame column `image` (bytes; base64 in JSON) -> class and top-3."""

    keras_model: Any = None

    def load_context(self, context: Any) -> None:
        self.keras_model = mlflow.keras.load_model(context.artifacts["keras_model"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        results = classify(self.keras_model, list(model_input["image"]))
        bad = [(i, r.error) for i, r in enumerate(results) if r.error is not None]
        if bad and (params or {}).get("errors", "raise") != "report":
            reasons = "; ".join(f"image {i}: {reason}" for i, reason in bad)
            raise MlflowException(
                f"{len(bad)} of {len(results)} images cannot be classified: {reasons}",
                error_code=INVALID_PARAMETER_VALUE,  # the scoring server answers 400
            )
        # Records, not a DataFrame: pandas would turn a bad image's missing class into NaN,
        # which is not JSON; here it stays null.
        return [r.as_dict() for r in results]


def example_image() -> bytes:
    """A small PNG, a dark garment-like shape on white, as the logged input example."""
    image = Image.new("L", (40, 48), 255)
    image.paste(40, (8, 6, 32, 42))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def log_serving_model(run_id: str, keras_model_uri: str) -> str:
    """Log the servable pyfunc wrapping `keras_model_uri` into run `run_id`; returns its URI."""
    package_dir = Path(__file__).resolve().parents[1]  # fashion_models/, shipped whole
    # MLflow warns that a python_model object is cloudpickled; that is the design here (the
    # class ships as code beside it), so keep the warning out of every study's output.
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_logger.level
    pyfunc_logger.setLevel(logging.ERROR)
    try:
        info = _log_pyfunc(run_id, keras_model_uri, package_dir)
    finally:
        pyfunc_logger.setLevel(level)
    return str(info.model_uri)


def _log_pyfunc(run_id: str, keras_model_uri: str, package_dir: Path) -> Any:
    # The logged model belongs to the run's experiment. Left to itself, Model.log outside an
    # active run creates it in the process's current experiment (Default, id 0), which a
    # worker of an authenticated tracking server may only read.
    run = MlflowClient().get_run(run_id)
    model = mlflow.initialize_logged_model(
        name=SERVING_ARTIFACT,
        source_run_id=run_id,
        params=dict(run.data.params),
        experiment_id=run.info.experiment_id,
    )
    return Model.log(
        model_id=model.model_id,
        artifact_path=None,
        name=SERVING_ARTIFACT,
        flavor=mlflow.pyfunc,
        run_id=run_id,
        python_model=GarmentClassifier(),
        artifacts={"keras_model": keras_model_uri},
        code_paths=[str(package_dir)],
        signature=SIGNATURE,
        input_example=(pd.DataFrame({"image": [example_image()]}), {"errors": "raise"}),
        pip_requirements=_REQUIREMENTS,
    )


def load_pyfunc_model(model_uri: str) -> PyFuncModel:
    """The servable model at `model_uri` as MLflow loads it (its GarmentClassifier inside)."""
    return mlflow.pyfunc.load_model(model_uri)


def load(model_uri: str) -> GarmentClassifier:
    """The servable model at `model_uri`, as its Python object (Keras model loaded)."""
    classifier: GarmentClassifier = load_pyfunc_model(model_uri).unwrap_python_model()
    return classifier
