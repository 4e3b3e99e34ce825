"""The small ResNet family: its stages of basic residual blocks, and the check that its
stages fit a 28x28 image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from fashion_models.train.batch_norm import FusedBatchNormalization
from fashion_models.train.params import (
    INPUT_SHAPE,
    ArchitectureError,
    bn_momentum,
    param,
    positive_int,
)


def check_resnet(params: Mapping[str, Any]) -> None:
    positive_int(param(params, "width"), "width")
    positive_int(param(params, "blocks_per_stage"), "blocks_per_stage")
    stages = positive_int(param(params, "stages"), "stages")
    size = INPUT_SHAPE[0]
    for stage in range(1, stages):
        if size < 2:
            raise ArchitectureError(
                f"resnet stage {stage} halves the image but gets {size}x{size}; "
                f"at most {stage} stages fit a 28x28 image."
            )
        size = (size + 1) // 2


def resnet_layers(params: Mapping[str, Any], dtype: str) -> list[keras.layers.Layer]:
    """A small ResNet (He et al. 2016, the CIFAR variant, post-activation): a 3x3 stem, then
    `stages` stages of `blocks_per_stage` basic blocks, the filters doubling and the image
    halving (strided conv, 1x1 projection on the shortcut) at each stage after the first."""
    width = int(param(params, "width"))
    momentum = bn_momentum(params)
    layers: list[keras.layers.Layer] = [
        keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem", dtype=dtype),
        FusedBatchNormalization(momentum=momentum, name="stem_bn", dtype=dtype),
        keras.layers.ReLU(name="stem_relu", dtype=dtype),
    ]
    for stage in range(int(param(params, "stages"))):
        for block in range(int(param(params, "blocks_per_stage"))):
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
        self.bn_a = FusedBatchNormalization(momentum=momentum, name="bn_a", dtype=dtype)
        self.conv_b = keras.layers.Conv2D(filters, 3, name="conv_b", **conv)
        self.bn_b = FusedBatchNormalization(momentum=momentum, name="bn_b", dtype=dtype)
        self.project: keras.layers.Conv2D | None = None  # the shortcut's, where shapes change
        self.bn_project: FusedBatchNormalization | None = None
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
            bn_project = FusedBatchNormalization(
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
