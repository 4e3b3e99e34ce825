"""A frozen patch-whitening first layer (Jordan's cifar10-airbench, after Coates & Ng).

A `patch_size` x `patch_size` convolution whose filters are the eigenvectors of the training
images' patch covariance, each scaled by 1/sqrt(eigenvalue + epsilon), in both signs, then a
ReLU: the next layer sees decorrelated, equally scaled patch features from the first step on,
instead of waiting for a trained first layer to find them. Its kernel is set from data, not
trained: `training.fit` adapts it to the training images (as Keras' preprocessing layers
`adapt`), and it is saved with the model, so evaluation and serving need no data.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

ADAPT_IMAGES = 5000  # airbench estimates the covariance from 5,000 training images
EPSILON = 5e-4  # airbench's; it caps the gain of the faintest directions


@keras.saving.register_keras_serializable(package="fashion_models")
class PatchWhitening(keras.layers.Layer):
    """(B, H, W, C) -> (B, H, W, 2 x patch_size^2 x C), same padding."""

    def __init__(self, patch_size: int, epsilon: float = EPSILON, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.epsilon = epsilon

    def build(self, input_shape: Any) -> None:
        size, channels = self.patch_size, input_shape[-1]
        directions = size * size * channels
        self.kernel = self.add_weight(
            name="kernel", shape=(size, size, channels, 2 * directions),
            initializer="zeros", trainable=False,
        )  # fmt: skip

    def adapt(self, images: np.ndarray) -> None:
        """Set the kernel from the patches of (up to ADAPT_IMAGES of) `images`, (N, H, W, C)."""
        size = self.patch_size
        sample = np.asarray(images[:ADAPT_IMAGES], dtype=np.float64)
        if not self.built:
            self.build(sample.shape)
        # (N, H', W', C, p, p) windows -> (patches, p * p * C) in the kernel's (row, col, C) order
        windows = np.lib.stride_tricks.sliding_window_view(sample, (size, size), axis=(1, 2))
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * sample.shape[-1])
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        whiten = eigenvectors / np.sqrt(eigenvalues + self.epsilon)  # column i: direction i
        kernel = np.concatenate([whiten, -whiten], axis=1)
        self.kernel.assign(kernel.reshape(self.kernel.shape).astype("float32"))

    def call(self, images: Any) -> Any:
        features = keras.ops.conv(images, self.kernel, strides=1, padding="same")
        return keras.ops.relu(features)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*input_shape[:-1], 2 * self.patch_size**2 * input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "patch_size": self.patch_size, "epsilon": self.epsilon}


def adapt_whitening(model: keras.Model, images: np.ndarray) -> None:
    """Adapt every PatchWhitening layer of `model` to `images` (the training images)."""
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, PatchWhitening):
            layer.adapt(images)
