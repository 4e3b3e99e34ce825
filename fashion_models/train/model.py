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
    HEADS,
    LR_SCHEDULES,
    MODEL_TYPES,
    OPTIMIZERS,
    PADDING,
    POOLING,
    PRECISIONS,
    TTA,
    layer_value,
)
from fashion_models.train.precision import resolve as resolve_precision

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
SGD_MOMENTUM = 0.9
# one_cycle as in PyTorch's OneCycleLR: from lr/25 up to lr over the first 30% of the steps,
# then cosine down to lr/25e4.
ONE_CYCLE_WARMUP, ONE_CYCLE_START, ONE_CYCLE_END = 0.3, 1 / 25, 1 / 25e4
# Written into every logged model, so serving installs what the model was trained with
# (and MLflow skips its slow requirement inference).
MODEL_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("tensorflow", "keras", "numpy")]


class ArchitectureError(TrialError, ValueError):
    """The params describe a network that cannot be built (e.g. the image shrinks below 1x1)."""


class UnknownNameError(TrialError, ValueError):
    """A model type, optimizer, pooling or padding outside the vocabulary (a study file is
    checked against it at load; this guards direct callers)."""


def build(model_type: str, params: Mapping[str, Any], *, steps_per_epoch: int = 1) -> keras.Model:
    """Build and compile a ``cnn``, ``mlp`` or ``resnet`` classifier for 28x28x1 float images.

    `steps_per_epoch` shapes a learning-rate schedule over the run's own epochs (it does not
    change the network). Raises ``ArchitectureError`` before anything trains when the
    conv/pool stack would shrink the image below 1x1 or a size/rate is out of range;
    ``UnknownNameError`` (a ValueError) for an unknown model type or choice.
    """
    _check_model_type(model_type)
    precision = resolve_precision(_choice(_get(params, "precision"), "precision", PRECISIONS))
    # Mixed precision computes in bfloat16 and keeps float32 weights; the output layer stays
    # float32, so the served model still takes and returns float32.
    dtype = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    optimizer = _optimizer(params, steps_per_epoch)  # fail on a bad name before building
    layers: list[keras.layers.Layer] = []
    if model_type == "cnn":
        _check_conv_stack(params)
        layers += _conv_stack(params, dtype)
    elif model_type == "resnet":
        _check_resnet(params)
        layers += _resnet(params, dtype)
    layers.append(_head(model_type, params, dtype))
    layers += _dense_stack(params, dtype)
    layers.append(
        keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output", dtype="float32")
    )
    model = keras.Sequential([keras.Input(shape=INPUT_SHAPE), *layers], name=model_type)
    model.compile(optimizer=optimizer, loss=_loss(params), metrics=["accuracy"])
    return model


def one_hot_labels(params: Mapping[str, Any]) -> bool:
    """Whether training wants one-hot targets (label smoothing needs them)."""
    return float(_get(params, "label_smoothing")) > 0.0


def with_tta(model: keras.Model, tta: str) -> keras.Model:
    """The model that predicts: `model` itself, or (``flip``) the mean of its answers for the
    image and its mirror. Evaluation, the logged model and so the served pyfunc all use it."""
    if _choice(tta, "tta", TTA) == "none":
        return model
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    mean = keras.layers.Average(name="tta_mean", dtype="float32")(
        [model(image), model(HorizontalFlip(name="tta_flip")(image))]
    )
    return keras.Model(image, mean, name=f"{model.name}_tta_flip")


def classifier_of(model: keras.Model) -> keras.Model:
    """The trained network inside a test-time-augmentation wrapper (or `model` itself)."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if len(inner) == 1 and model.name.endswith("_tta_flip") else model


@keras.saving.register_keras_serializable(package="fashion_models")
class HorizontalFlip(keras.layers.Layer):
    """Mirrors images left to right (no randomness: test-time augmentation)."""

    def call(self, images: Any) -> Any:
        return keras.ops.flip(images, axis=2)


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


def _optimizer(params: Mapping[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    name = _choice(_get(params, "optimizer"), "optimizer", OPTIMIZERS)
    lr = _learning_rate(params, steps_per_epoch)
    decay = _get(params, "weight_decay")
    # Keras applies weight_decay decoupled from the gradient (AdamW-style) for every optimizer.
    kwargs: dict[str, Any] = {} if decay is None else {"weight_decay": float(decay)}
    if name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=SGD_MOMENTUM, **kwargs)
    else:
        classes = {
            "adam": keras.optimizers.Adam,
            "adamw": keras.optimizers.AdamW,
            "rmsprop": keras.optimizers.RMSprop,
            "nadam": keras.optimizers.Nadam,
        }
        optimizer = classes[name](learning_rate=lr, **kwargs)
    if optimizer.weight_decay:
        # Decay the weights, not batch norm's scale and shift or the biases.
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def _learning_rate(
    params: Mapping[str, Any], steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate, or its schedule over this run's steps (epochs x steps_per_epoch)."""
    lr = float(_get(params, "learning_rate"))
    schedule = _choice(_get(params, "lr_schedule"), "lr_schedule", LR_SCHEDULES)
    warmup_epochs = float(_get(params, "warmup_epochs"))
    if warmup_epochs < 0:
        raise ArchitectureError(f"warmup_epochs must be >= 0, but got {warmup_epochs!r}.")
    if schedule == "constant" and warmup_epochs == 0:
        return lr
    total = max(1, int(_get(params, "epochs")) * max(1, int(steps_per_epoch)))
    warmup = min(total - 1, round(warmup_epochs * steps_per_epoch))
    if schedule == "one_cycle":
        warmup = warmup or round(ONE_CYCLE_WARMUP * total)
        return keras.optimizers.schedules.CosineDecay(
            lr * ONE_CYCLE_START,
            decay_steps=max(1, total - warmup),
            alpha=ONE_CYCLE_END,
            warmup_target=lr,
            warmup_steps=warmup,
        )
    # constant (with warm-up): a cosine that decays to alpha = 1, i.e. not at all.
    alpha = 1.0 if schedule == "constant" else 0.0
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, total - warmup), alpha=alpha, warmup_target=lr, warmup_steps=warmup
    )


def _loss(params: Mapping[str, Any]) -> Any:
    smoothing = float(_get(params, "label_smoothing"))
    if not 0.0 <= smoothing < 1.0:
        raise ArchitectureError(f"label_smoothing must be in [0, 1), but got {smoothing!r}.")
    if smoothing == 0.0:
        return "sparse_categorical_crossentropy"
    return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)


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


def _bn_momentum(params: Mapping[str, Any]) -> float:
    momentum = float(_get(params, "bn_momentum"))
    if not 0.0 <= momentum < 1.0:
        raise ArchitectureError(f"bn_momentum must be in [0, 1), but got {momentum!r}.")
    return momentum


def _rate(value: Any, name: str) -> float:
    rate = float(value)
    if not 0.0 <= rate < 1.0:
        raise ArchitectureError(f"{name} must be in [0, 1), but got {rate!r}.")
    return rate


def _conv_stack(params: Mapping[str, Any], dtype: str) -> list[keras.layers.Layer]:
    padding = str(_get(params, "padding"))
    batch_norm = _as_bool(_get(params, "batch_norm"), "batch_norm")
    momentum = _bn_momentum(params)
    layers: list[keras.layers.Layer] = []
    for i in range(int(_get(params, "conv_layers"))):
        filters = _positive_int(layer_value(params, "filters", i), f"filters_{i}")
        kernel = int(layer_value(params, "kernel_size", i))
        layers.append(
            keras.layers.Conv2D(
                filters, kernel, padding=padding, activation="relu", name=f"conv_{i}", dtype=dtype
            )
        )
        if batch_norm:
            layers.append(
                keras.layers.BatchNormalization(momentum=momentum, name=f"conv_{i}_bn", dtype=dtype)
            )
        pooling = layer_value(params, "pooling", i)
        if pooling == "max":
            layers.append(keras.layers.MaxPooling2D(2, name=f"conv_{i}_pool", dtype=dtype))
        elif pooling == "avg":
            layers.append(keras.layers.AveragePooling2D(2, name=f"conv_{i}_pool", dtype=dtype))
        rate = _rate(layer_value(params, "conv_dropout", i), f"conv_dropout_{i}")
        if rate > 0.0:
            # Whole feature maps: neighbouring pixels are too correlated for per-pixel dropout.
            layers.append(
                keras.layers.SpatialDropout2D(rate, name=f"conv_{i}_dropout", dtype=dtype)
            )
    return layers


def _check_resnet(params: Mapping[str, Any]) -> None:
    _positive_int(_get(params, "width"), "width")
    _positive_int(_get(params, "blocks_per_stage"), "blocks_per_stage")
    stages = _positive_int(_get(params, "stages"), "stages")
    size = INPUT_SHAPE[0]
    for stage in range(1, stages):
        if size < 2:
            raise ArchitectureError(
                f"resnet stage {stage} halves the image but gets {size}x{size}; "
                f"at most {stage} stages fit a 28x28 image."
            )
        size = (size + 1) // 2


def _resnet(params: Mapping[str, Any], dtype: str) -> list[keras.layers.Layer]:
    """A small ResNet (He et al. 2016, the CIFAR variant, post-activation): a 3x3 stem, then
    `stages` stages of `blocks_per_stage` basic blocks, the filters doubling and the image
    halving (strided conv, 1x1 projection on the shortcut) at each stage after the first."""
    width = int(_get(params, "width"))
    momentum = _bn_momentum(params)
    layers: list[keras.layers.Layer] = [
        keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem", dtype=dtype),
        keras.layers.BatchNormalization(momentum=momentum, name="stem_bn", dtype=dtype),
        keras.layers.ReLU(name="stem_relu", dtype=dtype),
    ]
    for stage in range(int(_get(params, "stages"))):
        for block in range(int(_get(params, "blocks_per_stage"))):
            strides = 2 if stage > 0 and block == 0 else 1
            layers.append(
                ResidualBlock(
                    width * 2**stage,
                    strides,
                    momentum,
                    name=f"stage{stage}_block{block}",
                    dtype=dtype,
                )
            )
    return layers


@keras.saving.register_keras_serializable(package="fashion_models")
class ResidualBlock(keras.layers.Layer):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (a basic block)."""

    def __init__(self, filters: int, strides: int, momentum: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.strides, self.momentum = filters, strides, momentum
        dtype = self.dtype_policy  # the sublayers compute in the block's precision
        conv = {"padding": "same", "use_bias": False, "dtype": dtype}
        self.conv_a = keras.layers.Conv2D(filters, 3, strides=strides, name="conv_a", **conv)
        self.bn_a = keras.layers.BatchNormalization(momentum=momentum, name="bn_a", dtype=dtype)
        self.conv_b = keras.layers.Conv2D(filters, 3, name="conv_b", **conv)
        self.bn_b = keras.layers.BatchNormalization(momentum=momentum, name="bn_b", dtype=dtype)
        self.project: keras.layers.Conv2D | None = None  # the shortcut's, where shapes change
        self.bn_project: keras.layers.BatchNormalization | None = None
        self._in_filters: int | None = None

    def build(self, input_shape: Any) -> None:
        self._in_filters = int(input_shape[-1])
        self.conv_a.build(input_shape)
        shape = self.conv_a.compute_output_shape(input_shape)
        self.bn_a.build(shape)
        self.conv_b.build(shape)
        self.bn_b.build(shape)
        if self.strides != 1 or self._in_filters != self.filters:
            project = keras.layers.Conv2D(
                self.filters, 1, strides=self.strides, use_bias=False, name="project",
                dtype=self.dtype_policy,
            )  # fmt: skip
            bn_project = keras.layers.BatchNormalization(
                momentum=self.momentum, name="bn_project", dtype=self.dtype_policy
            )
            project.build(input_shape)
            bn_project.build(shape)
            self.project, self.bn_project = project, bn_project

    def call(self, x: Any, training: bool | None = None) -> Any:
        y = keras.ops.relu(self.bn_a(self.conv_a(x), training=training))
        y = self.bn_b(self.conv_b(y), training=training)
        shortcut = x
        if self.project is not None and self.bn_project is not None:
            shortcut = self.bn_project(self.project(x), training=training)
        return keras.ops.relu(y + shortcut)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.conv_a.compute_output_shape(input_shape)[:-1] + (self.filters,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "momentum": self.momentum,
        }


def _head(model_type: str, params: Mapping[str, Any], dtype: str) -> keras.layers.Layer:
    head = "flatten" if model_type == "mlp" else _choice(_get(params, "head"), "head", HEADS)
    if head == "global_avg":
        return keras.layers.GlobalAveragePooling2D(name="global_avg", dtype=dtype)
    return keras.layers.Flatten(name="flatten", dtype=dtype)


def _dense_stack(params: Mapping[str, Any], dtype: str) -> list[keras.layers.Layer]:
    batch_norm = _as_bool(_get(params, "batch_norm"), "batch_norm")
    momentum = _bn_momentum(params)
    count = _positive_int(_get(params, "dense_layers"), "dense_layers", minimum=0)
    layers: list[keras.layers.Layer] = []
    for j in range(count):
        units = _positive_int(layer_value(params, "dense_units", j), f"dense_units_{j}")
        rate = _rate(layer_value(params, "dropout", j), f"dropout_{j}")
        layers.append(keras.layers.Dense(units, activation="relu", name=f"dense_{j}", dtype=dtype))
        if batch_norm:
            layers.append(
                keras.layers.BatchNormalization(
                    momentum=momentum, name=f"dense_{j}_bn", dtype=dtype
                )
            )
        if rate > 0.0:
            layers.append(keras.layers.Dropout(rate, name=f"dense_{j}_dropout", dtype=dtype))
    return layers
