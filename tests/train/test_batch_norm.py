"""The fused batch norm computes what Keras' BatchNormalization computes: the same outputs,
gradients and moving statistics (the variance's update Bessel-corrected), in float32 and
mixed bfloat16, and it saves and loads as itself."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_models.train.batch_norm import FusedBatchNormalization

MOMENTUM = 0.9


def _pair(shape: tuple[int, ...], dtype: str) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    ours = FusedBatchNormalization(momentum=MOMENTUM, dtype=dtype)
    theirs = keras.layers.BatchNormalization(momentum=MOMENTUM, dtype=dtype)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 1.5, shape[-1]).astype("float32") for _ in range(4)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _step(layer: keras.layers.Layer, x: np.ndarray, seed: int) -> tuple[np.ndarray, list]:
    """One training-mode pass; the output and the gradients of a random projection of it."""
    projection = tf.constant(np.random.default_rng(seed).normal(size=x.shape).astype("float32"))
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs, training=True)
        loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * projection)
    grads = tape.gradient(loss, [inputs, layer.gamma.value, layer.beta.value])
    return np.float32(outputs), [np.float32(g) for g in grads]


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_training_matches_keras_and_the_moving_variance_is_bessel_corrected(
    dtype: str, tolerance: float
) -> None:
    # Few pixels per channel (18), so that Bessel's correction shows: n / (n - 1) = 1.06.
    x = np.random.default_rng(1).normal(2.0, 3.0, (2, 3, 3, 4)).astype("float32")
    ours, theirs = _pair(x.shape, dtype)
    before = [np.array(w) for w in theirs.get_weights()]
    (y_ours, g_ours), (y_theirs, g_theirs) = _step(ours, x, 2), _step(theirs, x, 2)
    scale = np.abs(y_theirs).max()
    np.testing.assert_allclose(y_ours, y_theirs, atol=tolerance * scale)
    for mine, keras_own in zip(g_ours, g_theirs, strict=True):
        np.testing.assert_allclose(mine, keras_own, atol=tolerance * np.abs(keras_own).max())
    # The kernel ran (not Keras' own path): its moving variance took the unbiased variance.
    n = x.shape[0] * x.shape[1] * x.shape[2]
    batch_var = x.reshape(-1, x.shape[-1]).var(axis=0)
    moving_mean, moving_var = ours.get_weights()[2:]
    statistics = max(1e-5, tolerance / 20)  # bfloat16 rounds the inputs first
    np.testing.assert_allclose(
        moving_mean,
        MOMENTUM * before[2] + (1 - MOMENTUM) * x.reshape(-1, 4).mean(0),
        rtol=statistics,
    )
    expected = MOMENTUM * before[3] + (1 - MOMENTUM) * batch_var * n / (n - 1)
    np.testing.assert_allclose(moving_var, expected, rtol=statistics)
    assert not np.allclose(theirs.get_weights()[3], expected, rtol=statistics)  # Keras: biased


def test_inference_matches_keras_with_the_same_statistics() -> None:
    x = np.random.default_rng(3).normal(size=(4, 6, 6, 3)).astype("float32")
    ours, theirs = _pair(x.shape, "float32")
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=1e-6)


def test_a_dense_layers_2d_input_takes_keras_own_path() -> None:
    x = np.random.default_rng(4).normal(size=(16, 5)).astype("float32")
    ours, theirs = _pair(x.shape, "float32")
    np.testing.assert_array_equal(_step(ours, x, 5)[0], _step(theirs, x, 5)[0])
    np.testing.assert_array_equal(ours.get_weights()[3], theirs.get_weights()[3])


def test_it_saves_and_loads_as_itself(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((6, 6, 2)), FusedBatchNormalization(momentum=0.8)])
    model.layers[0].set_weights([np.full(2, 2.0, "float32")] * 4)
    model.save(tmp_path / "bn.keras")
    loaded = keras.models.load_model(tmp_path / "bn.keras")
    assert type(loaded.layers[0]) is FusedBatchNormalization
    assert loaded.layers[0].momentum == pytest.approx(0.8)
    x = np.random.default_rng(6).normal(size=(2, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
