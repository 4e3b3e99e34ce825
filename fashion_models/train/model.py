"""Keras classifiers for Fashion-MNIST built from a flat dict of hyperparameters.

This module knows nothing of Optuna or MLflow: it maps the parameter vocabulary
(config/vocabulary.py, which the search-space validator checks files against) to a compiled
``keras.Model``: the CNN and MLP layers and the test-time-augmentation wrapper here, the
ResNet in resnet.py, the optimizer, schedule and loss in optimization.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import keras

from fashion_models.config.vocabulary import (
    CONV_LAYOUTS,
    HEADS,
    MODEL_TYPES,
    PADDING,
    POOLING,
    PRECISIONS,
    TTA,
    layer_value,
)
from fashion_models.train import optimization
from fashion_models.train.batch_norm import FusedBatchNormalization
from fashion_models.train.params import (
    INPUT_SHAPE,
    NUM_CLASSES,
    ArchitectureError,
    UnknownNameError,
    as_bool,
    bn_momentum,
    choice,
    param,
    positive_int,
    rate_in_range,
)
from fashion_models.train.precision import resolve as resolve_precision
from fashion_models.train.resnet import check_resnet, resnet_layers
from fashion_models.train.whitening import PatchWhitening

# Written into every logged model, so serving installs what the model was trained with
# (and MLflow skips its slow requirement inference).
MODEL_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("tensorflow", "keras", "numpy")]


def build(model_type: str, params: Mapping[str, Any], *, steps_per_epoch: int = 1) -> keras.Model:
    """Build and compile a ``cnn``, ``mlp`` or ``resnet`` classifier for 28x28x1 float images.

    `steps_per_epoch` shapes a learning-rate schedule over the run's own epochs (it does not
    change the network). Raises ``ArchitectureError`` before anything trains when the
    conv/pool stack would shrink the image below 1x1 or a size/rate is out of range;
    ``UnknownNameError`` (a ValueError) for an unknown model type or choice.
    """
    _check_model_type(model_type)
    precision = resolve_precision(choice(param(params, "precision"), "precision", PRECISIONS))
    # Mixed precision computes in bfloat16 and keeps float32 weights; the output layer stays
    # float32, so the served model still takes and returns float32.
    dtype = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    optimizer = optimization.optimizer(params, steps_per_epoch)  # a bad name fails here
    layers: list[keras.layers.Layer] = []
    whitening = int(param(params, "whitening")) if model_type != "mlp" else 0
    if whitening > 0:  # set from the training images by training.fit, not trained
        layers.append(PatchWhitening(whitening, name="whitening", dtype=dtype))
    if model_type == "cnn":
        params = conv_layout(params)
        _check_conv_stack(params)
        layers += _conv_stack(params, dtype)
    elif model_type == "resnet":
        check_resnet(params)
        layers += resnet_layers(params, dtype)
    layers.append(_head(model_type, params, dtype))
    layers += _dense_stack(params, dtype)
    layers.append(
        keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output", dtype="float32")
    )
    model = keras.Sequential([keras.Input(shape=INPUT_SHAPE), *layers], name=model_type)
    model.compile(optimizer=optimizer, loss=optimization.loss(params), metrics=["accuracy"])
    return model


def one_hot_labels(params: Mapping[str, Any]) -> bool:
    """Whether training wants one-hot targets (label smoothing needs them)."""
    return float(param(params, "label_smoothing")) > 0.0


# Test-time augmentation: the views each prediction averages, as (rows down, columns right,
# mirrored, weight). flip_shift is airbench's mirror-translate: the photo and its mirror weigh
# half, the same pair moved one pixel up-left and one down-right a quarter each (zero padding,
# Fashion-MNIST's background, as the training shift pads).
TTA_VIEWS: dict[str, tuple[tuple[int, int, bool, float], ...]] = {
    "flip": ((0, 0, False, 0.5), (0, 0, True, 0.5)),
    "flip_shift": (
        (0, 0, False, 0.25), (0, 0, True, 0.25),
        (-1, -1, False, 0.125), (-1, -1, True, 0.125),
        (1, 1, False, 0.125), (1, 1, True, 0.125),
    ),
}  # fmt: skip


def with_tta(model: keras.Model, tta: str) -> keras.Model:
    """The model that predicts: `model` itself, or the weighted mean of its answers over the
    views of `tta` (TTA_VIEWS), all views of a batch in one pass of the network. Evaluation,
    the logged model and so the served pyfunc all use it."""
    mode = choice(tta, "tta", TTA)
    if mode == "none":
        return model
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    mean = TTAMean(mode, name="tta_mean")(model(TTAViews(mode, name="tta_views")(image)))
    return keras.Model(image, mean, name=f"{model.name}_tta_{mode}")


def tta_of(model: keras.Model) -> str:
    """The test-time augmentation a `with_tta` model predicts with (its name says)."""
    modes = sorted((m for m in TTA if m != "none"), key=len, reverse=True)
    return next((m for m in modes if model.name.endswith(f"_tta_{m}")), "none")


def classifier_of(model: keras.Model) -> keras.Model:
    """The trained network inside a test-time-augmentation wrapper (or `model` itself)."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if len(inner) == 1 and tta_of(model) != "none" else model


@keras.saving.register_keras_serializable(package="fashion_models")
class TTAViews(keras.layers.Layer):
    """(B, H, W, C) images -> (V x B, H, W, C): the V views of `mode`, view after view."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.views = TTA_VIEWS[mode]

    def call(self, images: Any) -> Any:
        height, width = images.shape[1], images.shape[2]
        padded = keras.ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
        views = []
        for down, right, mirrored, _ in self.views:
            view = padded[:, 1 - down : 1 - down + height, 1 - right : 1 - right + width, :]
            views.append(keras.ops.flip(view, axis=2) if mirrored else view)
        return keras.ops.concatenate(views, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="fashion_models")
class TTAMean(keras.layers.Layer):
    """(V x B, K) answers of TTAViews' batch -> (B, K): their mean weighted as `mode` says."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.weights_of_views = [weight for *_, weight in TTA_VIEWS[mode]]

    def call(self, answers: Any) -> Any:
        count = len(self.weights_of_views)
        stacked = keras.ops.reshape(answers, (count, -1, answers.shape[-1]))
        weights = keras.ops.reshape(
            keras.ops.convert_to_tensor(self.weights_of_views, dtype=answers.dtype), (count, 1, 1)
        )
        return keras.ops.sum(stacked * weights, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="fashion_models")
class FirstView(keras.layers.Layer):
    """(V x B, D) outputs of TTAViews' batch -> (B, D): those of the photo as uploaded."""

    def __init__(self, count: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = count

    def call(self, outputs: Any) -> Any:
        return keras.ops.reshape(outputs, (self.count, -1, outputs.shape[-1]))[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "count": self.count}


@keras.saving.register_keras_serializable(package="fashion_models")
class HorizontalFlip(keras.layers.Layer):
    """Mirrors images left to right. Models registered before TTAViews hold it: kept so that
    they load (answer_and_embedding serves them through TTAViews, with the same answer)."""

    def call(self, images: Any) -> Any:
        return keras.ops.flip(images, axis=2)


def answer_and_embedding(model: keras.Model) -> keras.Model:
    """image -> [`model`'s class probabilities (test-time augmentation included), the
    network's embedding of the image as uploaded (its penultimate layer)], in one pass of the
    network over the image's views: what the shop computes for every photo."""
    network = classifier_of(model)
    both = keras.Model(network.inputs[0], [network.layers[-1].output, network.layers[-2].output])
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    mode = tta_of(model)
    if mode == "none":
        probabilities, embedding = both(image)
    else:
        probabilities, embedding = both(TTAViews(mode, name="tta_views")(image))
        probabilities = TTAMean(mode, name="tta_mean")(probabilities)
        embedding = FirstView(len(TTA_VIEWS[mode]), name="first_view")(embedding)
    return keras.Model(image, [probabilities, embedding], name=f"{model.name}_and_embedding")


def count_params(model_type: str, params: Mapping[str, Any]) -> int:
    """Build the model and return its number of weights."""
    return int(build(model_type, params).count_params())


def _check_model_type(model_type: str) -> None:
    if model_type not in MODEL_TYPES:
        raise UnknownNameError(f"model_type must be one of {MODEL_TYPES}, but got {model_type!r}.")


def conv_layout(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """The params with `conv_layout` spelled out per layer. `blocks` arranges the conv layers
    as VGG does: in pairs, same padding, 2x2 max pooling after each pair (and after a last
    unpaired conv), filters doubling per pair from `filters`. It decides padding, pooling and
    the per-layer filters itself, so a search space that also sets them is refused."""
    layout = choice(param(params, "conv_layout"), "conv_layout", CONV_LAYOUTS)
    if layout == "plain":
        return params
    count = positive_int(param(params, "conv_layers"), "conv_layers")
    decided = ("padding", "pooling", "filters_", "pooling_")
    own = [k for k in params if k in decided[:2] or k.startswith(decided[2:])]
    if own:
        raise ArchitectureError(
            f"conv_layout blocks sets padding, pooling and the per-layer filters itself; "
            f"leave {', '.join(sorted(own))} out of the search space."
        )
    base = positive_int(param(params, "filters"), "filters")
    spelled: dict[str, Any] = {**params, "padding": "same"}
    for i in range(count):
        spelled[f"filters_{i}"] = base * 2 ** (i // 2)
        spelled[f"pooling_{i}"] = "max" if i % 2 == 1 or i == count - 1 else "none"
    return spelled


def _check_conv_stack(params: Mapping[str, Any]) -> None:
    """Follow the spatial size through the conv/pool stack; raise if it drops below 1x1."""
    padding = choice(param(params, "padding"), "padding", PADDING)
    size = INPUT_SHAPE[0]
    for i in range(positive_int(param(params, "conv_layers"), "conv_layers")):
        kernel = positive_int(layer_value(params, "kernel_size", i), f"kernel_size_{i}")
        if padding == "valid":
            if size < kernel:
                raise ArchitectureError(
                    f"conv layer {i} (kernel {kernel}, valid padding) needs at least "
                    f"{kernel}x{kernel} input but gets {size}x{size}."
                )
            size = size - kernel + 1
        pooling = choice(layer_value(params, "pooling", i), f"pooling_{i}", POOLING)
        if pooling != "none":
            if size < 2:
                raise ArchitectureError(
                    f"{pooling} pooling after conv layer {i} needs at least 2x2 input "
                    f"but gets {size}x{size}."
                )
            size //= 2


def _conv_stack(params: Mapping[str, Any], dtype: str) -> list[keras.layers.Layer]:
    padding = str(param(params, "padding"))
    batch_norm = as_bool(param(params, "batch_norm"), "batch_norm")
    momentum = bn_momentum(params)
    layers: list[keras.layers.Layer] = []
    for i in range(int(param(params, "conv_layers"))):
        filters = positive_int(layer_value(params, "filters", i), f"filters_{i}")
        kernel = int(layer_value(params, "kernel_size", i))
        layers.append(
            keras.layers.Conv2D(
                filters, kernel, padding=padding, activation="relu", name=f"conv_{i}", dtype=dtype
            )
        )
        if batch_norm:
            layers.append(
                FusedBatchNormalization(momentum=momentum, name=f"conv_{i}_bn", dtype=dtype)
            )
        pooling = layer_value(params, "pooling", i)
        if pooling == "max":
            layers.append(keras.layers.MaxPooling2D(2, name=f"conv_{i}_pool", dtype=dtype))
        elif pooling == "avg":
            layers.append(keras.layers.AveragePooling2D(2, name=f"conv_{i}_pool", dtype=dtype))
        rate = rate_in_range(layer_value(params, "conv_dropout", i), f"conv_dropout_{i}")
        if rate > 0.0:
            # Whole feature maps: neighbouring pixels are too correlated for per-pixel dropout.
            layers.append(
                keras.layers.SpatialDropout2D(rate, name=f"conv_{i}_dropout", dtype=dtype)
            )
    return layers


def _head(model_type: str, params: Mapping[str, Any], dtype: str) -> keras.layers.Layer:
    head = "flatten" if model_type == "mlp" else choice(param(params, "head"), "head", HEADS)
    if head == "global_avg":
        return keras.layers.GlobalAveragePooling2D(name="global_avg", dtype=dtype)
    return keras.layers.Flatten(name="flatten", dtype=dtype)


def _dense_stack(params: Mapping[str, Any], dtype: str) -> list[keras.layers.Layer]:
    batch_norm = as_bool(param(params, "batch_norm"), "batch_norm")
    momentum = bn_momentum(params)
    count = positive_int(param(params, "dense_layers"), "dense_layers", minimum=0)
    layers: list[keras.layers.Layer] = []
    for j in range(count):
        units = positive_int(layer_value(params, "dense_units", j), f"dense_units_{j}")
        rate = rate_in_range(layer_value(params, "dropout", j), f"dropout_{j}")
        layers.append(keras.layers.Dense(units, activation="relu", name=f"dense_{j}", dtype=dtype))
        if batch_norm:
            layers.append(
                FusedBatchNormalization(momentum=momentum, name=f"dense_{j}_bn", dtype=dtype)
            )
        if rate > 0.0:
            layers.append(keras.layers.Dropout(rate, name=f"dense_{j}_dropout", dtype=dtype))
    return layers
