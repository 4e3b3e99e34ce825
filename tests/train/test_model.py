"""Tests for fashion_models.train.model: real Keras models, built but not trained."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import pytest

from fashion_models.train import model as model_mod
from fashion_models.train.model import (
    OPTIMIZERS,
    ArchitectureError,
    build,
    count_params,
)

SEED_CNN = {
    "conv_layers": 2,
    "filters": 32,
    "kernel_size": 3,
    "dense_layers": 1,
    "dense_units": 32,
    "optimizer": "adam",
    "learning_rate": 1e-3,
}
SEED_MLP = {
    "dense_layers": 2,
    "dense_units_0": 128,
    "dense_units_1": 64,
    "dropout_0": 0.5,
    "dropout_1": 0.0,
}


@pytest.fixture(autouse=True)
def _fresh_session() -> Iterator[None]:
    yield
    keras.backend.clear_session()


def kinds(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_seed_cnn_matches_the_baseline_notebook() -> None:
    model = build("cnn", SEED_CNN)
    assert model.count_params() == 599_754
    assert kinds(model) == ["Conv2D", "Conv2D", "Flatten", "Dense", "Dense"]
    conv0, conv1, _, hidden, out = model.layers
    assert (conv0.filters, conv0.kernel_size, conv0.padding) == (32, (3, 3), "valid")
    assert conv1.filters == 32
    assert conv0.activation.__name__ == "relu"
    assert (hidden.units, hidden.activation.__name__) == (32, "relu")
    assert (out.units, out.activation.__name__) == (10, "softmax")
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    assert model.input_shape == (None, 28, 28, 1)


def test_defaults_alone_build_the_seed_cnn() -> None:
    assert count_params("cnn", {}) == 599_754


def test_seed_mlp_matches_the_baseline_notebook() -> None:
    model = build("mlp", SEED_MLP)
    assert model.count_params() == 109_386
    assert kinds(model) == ["Flatten", "Dense", "Dropout", "Dense", "Dense"]
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        128,
        64,
        10,
    ]
    assert model.layers[2].rate == 0.5
    assert count_params("mlp", SEED_MLP) == 109_386


def test_model_is_compiled_for_sparse_labels() -> None:
    model = build("mlp", {})
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.compiled


def test_per_layer_value_overrides_the_shared_one() -> None:
    model = build("cnn", {"conv_layers": 3, "filters": 8, "filters_1": 16, "kernel_size_2": 5})
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [8, 16, 8]
    assert [conv.kernel_size for conv in convs] == [(3, 3), (3, 3), (5, 5)]


def test_per_layer_dense_units_and_dropout() -> None:
    params = {"dense_layers": 3, "dense_units": 20, "dense_units_2": 7, "dropout": 0.25}
    params["dropout_1"] = 0.0
    model = build("mlp", params)
    assert kinds(model) == ["Flatten", "Dense", "Dropout", "Dense", "Dense", "Dropout", "Dense"]
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [20, 20, 7, 10]


def test_zero_dense_layers_goes_straight_to_the_output() -> None:
    assert kinds(build("mlp", {"dense_layers": 0})) == ["Flatten", "Dense"]
    assert count_params("mlp", {"dense_layers": 0}) == 784 * 10 + 10


def test_pooling_padding_and_batch_norm_give_the_layers_asked_for() -> None:
    params = {
        "conv_layers": 2,
        "pooling_0": "max",
        "pooling_1": "avg",
        "padding": "same",
        "batch_norm": True,
        "dense_layers": 1,
        "dropout": 0.3,
    }
    model = build("cnn", params)
    assert kinds(model) == [
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "Conv2D",
        "BatchNormalization",
        "AveragePooling2D",
        "Flatten",
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
    ]
    assert all(
        layer.padding == "same" for layer in model.layers[:6] if "Conv" in type(layer).__name__
    )
    # same padding keeps 28x28; two 2x2 pools give 7x7x32 into Flatten.
    assert model.get_layer("flatten").output.shape == (None, 7 * 7 * 32)


def test_architecture_error_when_the_image_shrinks_below_1x1() -> None:
    params = {"conv_layers": 4, "kernel_size": 7, "padding": "valid", "pooling": "max"}
    # 28 -conv7-> 22 -pool-> 11 -conv7-> 5 -pool-> 2: conv layer 2 cannot fit a 7x7 kernel.
    with pytest.raises(ArchitectureError, match=r"conv layer 2 \(kernel 7, valid padding\)"):
        build("cnn", params)
    with pytest.raises(ArchitectureError, match="needs at least 7x7 input but gets 2x2"):
        count_params("cnn", params)


def test_architecture_error_for_pooling_a_1x1_image() -> None:
    params = {"conv_layers": 5, "padding": "same", "pooling": "max"}
    # Pools take 28 -> 14 -> 7 -> 3 -> 1, then the 5th pool has nothing to halve.
    with pytest.raises(ArchitectureError, match="max pooling after conv layer 4 .* gets 1x1"):
        build("cnn", params)
    assert count_params("cnn", {**params, "conv_layers": 4, "filters": 4}) > 0


def test_same_padding_never_shrinks() -> None:
    assert count_params("cnn", {"conv_layers": 4, "kernel_size": 7, "padding": "same"}) > 0


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"dropout": 1.0}, r"dropout_0 must be in \[0, 1\)"),
        ({"dense_units_0": 0}, "dense_units_0 must be >= 1"),
        ({"dense_layers": -1}, "dense_layers must be >= 0"),
        ({"conv_layers": 0}, "conv_layers must be >= 1"),
    ],
)
def test_architecture_error_for_out_of_range_sizes(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ArchitectureError, match=match):
        build("cnn", params)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_each_optimizer_builds(optimizer: str) -> None:
    model = build("mlp", {"optimizer": optimizer, "learning_rate": 0.01, "dense_units": 4})
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    if optimizer == "sgd":
        assert model.optimizer.momentum == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("model_type", "params", "match"),
    [
        ("rnn", {}, r"model_type must be one of \('cnn', 'mlp'\), but got 'rnn'"),
        ("cnn", {"optimizer": "adagrad"}, "optimizer must be one of .* but got 'adagrad'"),
        ("cnn", {"pooling_1": "min"}, "pooling_1 must be one of .* but got 'min'"),
        ("cnn", {"padding": "full"}, "padding must be one of .* but got 'full'"),
        ("mlp", {"batch_norm": "false"}, "batch_norm must be a boolean"),
    ],
)
def test_bad_names_raise_value_error(model_type: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        build(model_type, params)
    assert not isinstance(info.value, ArchitectureError)


def test_unknown_params_are_ignored_and_mlp_ignores_conv_params() -> None:
    params = {**SEED_MLP, "no_such_param": 3, "filters": 64, "pooling": "max"}
    assert count_params("mlp", params) == 109_386


def test_model_and_training_never_import_optuna_or_mlflow() -> None:
    package = Path(model_mod.__file__).parent
    for module in ("model.py", "training.py"):
        tree = ast.parse((package / module).read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"optuna", "mlflow", "optuna_integration"}, module
