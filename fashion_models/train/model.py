"""Keras classifiers for Fashion-MNIST built from a flat dict of hyperparameters.

This module knows nothing of Optuna or MLflow: it maps the parameter vocabulary below to
a compiled ``keras.Model``. The vocabulary is exposed as data so the search-space
validator can reject names the builder would silently ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import keras

from fashion_models.errors import TrialError
from fashion_models.spec.vocabulary import (
    DEFAULTS,
    MODEL_TYPES,
    OPTIMIZERS,
    PADDING,
    POOLING,
    layer_value,
)

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
SGD_MOMENTUM = 0.9
# Written into every logged model, so serving installs what the model was trained with
# (and MLflow skips its slow requirement inference).
MODEL_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("tensorflow", "keras", "numpy")]


class ArchitectureError(TrialError, ValueError):
    """The params describe a network that cannot be built (e.g. the image shrinks below 1x1)."""


class UnknownNameError(TrialError, ValueError):
    """A model type, optimizer, pooling or padding outside the vocabulary (a study file is
    checked against it at load; this guards direct callers)."""


def build(model_type: str, params: Mapping[str, Any]) -> keras.Model:
    """Build and compile a ``cnn`` or ``mlp`` classifier for 28x28x1 float images.

    Raises ``ArchitectureError`` before creating any layer when the conv/pool stack would
    shrink the image below 1x1 or a size/rate is out of range; ``UnknownNameError`` (a
    ValueError) for an unknown model type, optimizer, pooling or padding.
    """
    _check_model_type(model_type)
    optimizer = _optimizer(params)  # fail on a bad name before building anything
    layers: list[keras.layers.Layer] = []
    if model_type == "cnn":
        _check_conv_stack(params)
        layers += _conv_stack(params)
    layers.append(keras.layers.Flatten(name="flatten"))
    layers += _dense_stack(params)
    layers.append(keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output"))
    model = keras.Sequential([keras.Input(shape=INPUT_SHAPE), *layers], name=model_type)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def count_params(model_type: str, params: Mapping[str, Any]) -> int:
    """Build the model and return its number of weights."""
    return int(build(model_type, params).count_params())


def _get(params: Mapping[str, Any], name: str) -> Any:
    return params.get(name, DEFAULTS[name])


def _check_model_type(model_type: str) -> None:
    if model_type not in MODEL_TYPES:
        raise UnknownNameError(f"model_type must be one of {MODEL_TYPES}, but got {model_type!r}.")


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UnknownNameError(f"{name} must be one of {allowed}, but got {value!r}.")
    return str(value)


def _as_bool(value: Any, name: str) -> bool:
    # bool("false") is True, so only accept real booleans (and 0/1 from integer spaces).
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise UnknownNameError(f"{name} must be a boolean, but got {value!r}.")


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    number = int(value)
    if number < minimum:
        raise ArchitectureError(f"{name} must be >= {minimum}, but got {value!r}.")
    return number


def _optimizer(params: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    name = _choice(_get(params, "optimizer"), "optimizer", OPTIMIZERS)
    lr = float(_get(params, "learning_rate"))
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=SGD_MOMENTUM)
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
    }
    return classes[name](learning_rate=lr)


def _check_conv_stack(params: Mapping[str, Any]) -> None:
    """Follow the spatial size through the conv/pool stack; raise if it drops below 1x1."""
    padding = _choice(_get(params, "padding"), "padding", PADDING)
    size = INPUT_SHAPE[0]
    for i in range(_positive_int(_get(params, "conv_layers"), "conv_layers")):
        kernel = _positive_int(layer_value(params, "kernel_size", i), f"kernel_size_{i}")
        if padding == "valid":
            if size < kernel:
                raise ArchitectureError(
                    f"conv layer {i} (kernel {kernel}, valid padding) needs at least "
                    f"{kernel}x{kernel} input but gets {size}x{size}."
                )
            size = size - kernel + 1
        pooling = _choice(layer_value(params, "pooling", i), f"pooling_{i}", POOLING)
        if pooling != "none":
            if size < 2:
                raise ArchitectureError(
                    f"{pooling} pooling after conv layer {i} needs at least 2x2 input "
                    f"but gets {size}x{size}."
                )
            size //= 2


def _conv_stack(params: Mapping[str, Any]) -> list[keras.layers.Layer]:
    padding = str(_get(params, "padding"))
    batch_norm = _as_bool(_get(params, "batch_norm"), "batch_norm")
    layers: list[keras.layers.Layer] = []
    for i in range(int(_get(params, "conv_layers"))):
        filters = _positive_int(layer_value(params, "filters", i), f"filters_{i}")
        kernel = int(layer_value(params, "kernel_size", i))
        layers.append(
            keras.layers.Conv2D(
                filters, kernel, padding=padding, activation="relu", name=f"conv_{i}"
            )
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"conv_{i}_bn"))
        pooling = layer_value(params, "pooling", i)
        if pooling == "max":
            layers.append(keras.layers.MaxPooling2D(2, name=f"conv_{i}_pool"))
        elif pooling == "avg":
            layers.append(keras.layers.AveragePooling2D(2, name=f"conv_{i}_pool"))
    return layers


def _dense_stack(params: Mapping[str, Any]) -> list[keras.layers.Layer]:
    batch_norm = _as_bool(_get(params, "batch_norm"), "batch_norm")
    count = _positive_int(_get(params, "dense_layers"), "dense_layers", minimum=0)
    layers: list[keras.layers.Layer] = []
    for j in range(count):
        units = _positive_int(layer_value(params, "dense_units", j), f"dense_units_{j}")
        rate = float(layer_value(params, "dropout", j))
        if not 0.0 <= rate < 1.0:
            raise ArchitectureError(f"dropout_{j} must be in [0, 1), but got {rate!r}.")
        layers.append(keras.layers.Dense(units, activation="relu", name=f"dense_{j}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"dense_{j}_bn"))
        if rate > 0.0:
            layers.append(keras.layers.Dropout(rate, name=f"dense_{j}_dropout"))
    return layers
