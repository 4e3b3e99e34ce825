"""Tests for fashion_models.train.whitening: the frozen patch-whitening first layer, adapted
to real Fashion-MNIST images and trained through `fit`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from fashion_models.train.data import Splits
from fashion_models.train.model import build
from fashion_models.train.training import evaluate, fit
from fashion_models.train.whitening import EPSILON, PatchWhitening

pytestmark = pytest.mark.slow

NET = {
    "conv_layers": 2, "filters": 8, "padding": "same", "pooling": "max", "batch_norm": True,
    "dense_units": 16, "whitening": 2,
}  # fmt: skip


def linear_features(layer: PatchWhitening, images: np.ndarray) -> np.ndarray:
    """The layer's features before its ReLU, at the positions whose patch lies inside the
    image: each direction d comes out twice, as relu(d) and relu(-d), and d = their difference."""
    out = np.asarray(layer(images), dtype=np.float64)[:, :-1, :-1, :]  # same padding's last row
    half = out.shape[-1] // 2
    return (out[..., :half] - out[..., half:]).reshape(-1, half)


def test_adapt_decorrelates_and_scales_the_patches_of_real_images(small_splits: Splits) -> None:
    layer = PatchWhitening(2)
    layer.adapt(small_splits.x_train)
    assert layer.kernel.shape == (2, 2, 1, 8)  # 4 directions of a 2x2 patch, both signs
    features = linear_features(layer, small_splits.x_train)
    moments = features.T @ features / len(features)
    # each direction's second moment is lambda / (lambda + epsilon): about 1, and no two
    # directions correlate
    patches = np.lib.stride_tricks.sliding_window_view(
        small_splits.x_train[..., 0].astype(np.float64), (2, 2), axis=(1, 2)
    ).reshape(-1, 4)
    eigenvalues = np.linalg.eigvalsh(patches.T @ patches / len(patches))
    np.testing.assert_allclose(
        np.sort(np.diag(moments)), np.sort(eigenvalues / (eigenvalues + EPSILON)), rtol=1e-3
    )
    off_diagonal = moments - np.diag(np.diag(moments))
    assert np.abs(off_diagonal).max() < 1e-3
    assert np.diag(moments).min() > 0.5  # no direction is left out


def test_a_whitened_cnn_trains_keeps_the_adapted_kernel_and_reloads(
    small_splits: Splits, tmp_path: Path
) -> None:
    keras.utils.set_random_seed(0)
    model = build("cnn", NET)
    assert not np.asarray(model.get_layer("whitening").kernel).any()  # nothing before fit
    s = small_splits
    fit(model, s.x_train, s.y_train, s.x_val, s.y_val, epochs=2, batch_size=32)
    adapted = PatchWhitening(2)
    adapted.adapt(s.x_train)
    # fit adapted the layer to the training images, and training left it as adapted
    np.testing.assert_array_equal(model.get_layer("whitening").kernel, adapted.kernel)
    assert model.get_layer("whitening").trainable_weights == []
    assert evaluate(model, s.x_test, s.y_test).accuracy > 0.5  # chance is 0.1
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(s.x_test[:64], verbose=0), model.predict(s.x_test[:64], verbose=0)
    )


def test_whitening_is_off_by_default_and_the_mlp_has_none() -> None:
    assert "whitening" not in [layer.name for layer in build("cnn", {}).layers]
    assert "whitening" not in [layer.name for layer in build("mlp", {"whitening": 2}).layers]
    resnet = build("resnet", {"stages": 1, "blocks_per_stage": 1, "width": 4, "whitening": 3})
    assert resnet.layers[0].name == "whitening"
    assert resnet.layers[0].compute_output_shape((None, 28, 28, 1)) == (None, 28, 28, 18)
