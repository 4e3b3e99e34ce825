"""The servable model a serving command (or the HTTP service) answers with, loaded from the
registry: the tracking store connected, the alias resolved once, that exact version loaded."""

from __future__ import annotations

from typing import Any

from fashion_models.errors import FatalError
from fashion_models.serving import pyfunc
from fashion_models.track.experiment import connect
from fashion_models.track.registry import ModelIdentity, resolve


class ModelLoadError(FatalError):
    """The model's files cannot be read (a path that does not exist, an unreadable store)."""


def load_classifier(tracking_uri: str, model_uri: str) -> pyfunc.GarmentClassifier:
    """The servable model at `model_uri` (Keras model loaded); registry errors propagate as
    MlflowException, file errors as ModelLoadError."""
    connect(tracking_uri)
    try:
        return pyfunc.load(model_uri)
    except OSError as err:
        raise ModelLoadError(f"cannot load model {model_uri}: {err}") from err


def load_pyfunc(tracking_uri: str, model_uri: str) -> Any:
    """The servable model at `model_uri` as MLflow loads it (a PyFuncModel: what MLflow's
    scoring protocol scores with); errors as load_classifier's."""
    connect(tracking_uri)
    try:
        return pyfunc.load_pyfunc_model(model_uri)
    except OSError as err:
        raise ModelLoadError(f"cannot load model {model_uri}: {err}") from err


def pinned_classifier(tracking_uri: str, model_uri: str) -> tuple[Any, ModelIdentity]:
    """The Keras model of `model_uri` and its identity, the alias resolved once: a promotion
    between loading the model and naming its version cannot make the catalog name another."""
    connect(tracking_uri)
    identity = resolve(model_uri)
    return load_classifier(tracking_uri, identity.pinned_uri).keras_model, identity
