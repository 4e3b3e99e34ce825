"""Batch norm through TensorFlow's fused kernel.

Keras 3 computes BatchNormalization as some twenty separate float32 ops (moments, the
moving-average updates, the normalization, casts from and back to bfloat16), each a pass over
the activations. In the champion's training step they took 43% of the time, more than the
convolutions (TensorFlow profiler, `bench/step_speed.py --profile`, AMD EPYC, 2026-12-07).
TensorFlow's FusedBatchNormV3 does the same in one op forward and one backward (oneDNN's
kernel on CPUs, in bfloat16 under mixed precision).
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="fashion_models")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras' BatchNormalization (the same weights, config and moving statistics, so a
    model trained with one serves with the other) computed by FusedBatchNormV3 where that
    applies: the TensorFlow backend, 4-D channels-last input, no mask, no renorm; elsewhere
    (a dense layer's 2-D input) Keras' own computation.

    One difference: the fused kernel updates the moving variance with the unbiased batch
    variance (n / (n - 1) times Keras' biased one); n is the batch's pixels per channel,
    128 x 28 x 28 = 100,352 for a first conv, so the factor is 1.00001 to 1.002."""

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        scale = tf.convert_to_tensor(self.gamma) if self.scale else tf.ones(inputs.shape[-1])
        offset = tf.convert_to_tensor(self.beta) if self.center else tf.zeros(inputs.shape[-1])
        moving_mean = tf.convert_to_tensor(self.moving_mean)
        moving_variance = tf.convert_to_tensor(self.moving_variance)
        if training and self.trainable:
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=moving_mean,
                variance=moving_variance, epsilon=self.epsilon,
                exponential_avg_factor=1.0 - self.momentum, data_format="NHWC",
                is_training=True,
            )  # fmt: skip
            # With an averaging factor the kernel returns the updated moving statistics.
            self.moving_mean.assign(mean)
            self.moving_variance.assign(variance)
            return outputs
        outputs, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=scale, offset=offset, mean=moving_mean, variance=moving_variance,
            epsilon=self.epsilon, data_format="NHWC", is_training=False,
        )  # fmt: skip
        return outputs

    def _fusable(self, inputs: Any, mask: Any) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and mask is None
            and not self.renorm
            and not self.synchronized
            and keras.backend.standardize_dtype(inputs.dtype) in ("float32", "bfloat16", "float16")
        )
