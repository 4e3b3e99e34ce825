"""Tests for fashion_models.train.model: real Keras models, built but not trained."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from optuna.trial import FixedTrial

from fashion_models.config.search_space import load_search_space
from fashion_models.config.vocabulary import OPTIMIZERS
from fashion_models.train import model as model_mod
from fashion_models.train.model import (
    HorizontalFlip,
    answer_and_embedding,
    build,
    classifier_of,
    count_params,
    one_hot_labels,
    tta_of,
    with_tta,
)
from fashion_models.train.params import ArchitectureError, UnknownNameError
from fashion_models.train.resnet import ResidualBlock

REPO = Path(__file__).resolve().parents[2]

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
    assert kinds(model) == [  # Keras' BatchNormalization, through the fused kernel
        "Conv2D",
        "FusedBatchNormalization",
        "MaxPooling2D",
        "Conv2D",
        "FusedBatchNormalization",
        "AveragePooling2D",
        "Flatten",
        "Dense",
        "FusedBatchNormalization",
        "Dropout",
        "Dense",
    ]
    assert all(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in model.layers
        if "BatchNorm" in type(layer).__name__
    )
    assert all(
        layer.padding == "same" for layer in model.layers[:6] if "Conv" in type(layer).__name__
    )
    # same padding keeps 28x28; two 2x2 pools give 7x7x32 into Flatten.
    assert model.get_layer("flatten").output.shape == (None, 7 * 7 * 32)


@pytest.mark.parametrize(
    ("depth", "filters", "flatten", "count"),
    [(2, [32, 32], 14 * 14 * 32, 210_634), (4, [32, 32, 64, 64], 7 * 7 * 64, 165_706),
     (6, [32, 32, 64, 64, 128, 128], 3 * 3 * 128, 323_658), (3, [32, 32, 64], 7 * 7 * 64, None)],
)  # fmt: skip
def test_blocks_layout_pairs_same_convs_pools_each_pair_and_doubles_filters(
    depth: int, filters: list[int], flatten: int, count: int | None
) -> None:
    model = build("cnn", {**SEED_CNN, "conv_layout": "blocks", "conv_layers": depth})
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == filters
    assert {layer.padding for layer in convs} == {"same"}
    pools = [layer.name for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    # After each pair; an unpaired last conv is a block of its own.
    assert pools == [f"conv_{i}_pool" for i in range(depth) if i % 2 == 1 or i == depth - 1]
    assert model.get_layer("flatten").output.shape == (None, flatten)
    if count is not None:
        assert model.count_params() == count


def test_blocks_layout_refuses_padding_and_pooling_it_sets_itself() -> None:
    with pytest.raises(ArchitectureError, match="leave padding, pooling_1 out"):
        build("cnn", {"conv_layout": "blocks", "padding": "valid", "pooling_1": "avg"})
    with pytest.raises(UnknownNameError, match="conv_layout must be one of"):
        build("cnn", {"conv_layout": "vgg"})


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
        ("rnn", {}, r"model_type must be one of \('cnn', 'mlp', 'resnet'\), but got 'rnn'"),
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


def test_the_train_package_never_imports_optuna_or_mlflow() -> None:
    package = Path(model_mod.__file__).parent
    for module in sorted(package.glob("*.py")):
        tree = ast.parse(module.read_text())
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
        assert not imported & {"optuna", "mlflow", "optuna_integration"}, module.name


# --------------------------------------------------------------------------- the seed files


def names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers]


@pytest.mark.parametrize(
    ("file", "model_type", "count", "layers"),
    [
        (
            "seed_cnn.yaml",
            "cnn",
            599_754,
            [("conv_0", "Conv2D"), ("conv_1", "Conv2D"), ("flatten", "Flatten"),
             ("dense_0", "Dense"), ("output", "Dense")],
        ),
        (
            "seed_mlp.yaml",
            "mlp",
            109_386,
            [("flatten", "Flatten"), ("dense_0", "Dense"), ("dense_0_dropout", "Dropout"),
             ("dense_1", "Dense"), ("output", "Dense")],
        ),
    ],
)  # fmt: skip
def test_the_seed_files_build_the_seed_models_as_before(
    file: str, model_type: str, count: int, layers: list[tuple[str, str]]
) -> None:
    """The new vocabulary's defaults add nothing to the seed notebooks: no batch norm, spatial
    dropout, flip or schedule, float32 throughout, the optimizer as it was."""
    space = load_search_space(REPO / "search_spaces" / file)
    assert space.model == model_type
    model = build(model_type, space.suggest(FixedTrial({})), steps_per_epoch=1500)
    assert model.count_params() == count
    assert list(zip(names(model), kinds(model), strict=True)) == layers
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert model.loss == "sparse_categorical_crossentropy"
    optimizer = model.optimizer
    assert type(optimizer) is keras.optimizers.Adam and optimizer.weight_decay is None
    assert not isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    assert with_tta(model, "none") is model


# --------------------------------------------------------------------------- batch norm, dropout


def test_bn_momentum_reaches_every_batch_norm_layer() -> None:
    params = {"conv_layers": 2, "batch_norm": True, "dense_layers": 2, "filters": 4}
    default = build("cnn", params)
    momenta = [layer.momentum for layer in default.layers if "BatchNorm" in type(layer).__name__]
    assert momenta == [0.9] * 4  # conv_0, conv_1, dense_0, dense_1: not Keras' 0.99
    model = build("cnn", {**params, "bn_momentum": 0.8})
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert [layer.name for layer in bns] == ["conv_0_bn", "conv_1_bn", "dense_0_bn", "dense_1_bn"]
    assert {layer.momentum for layer in bns} == {0.8}
    resnet = build("resnet", {"stages": 2, "blocks_per_stage": 1, "width": 4, "bn_momentum": 0.8})
    blocks = [layer for layer in resnet.layers if isinstance(layer, ResidualBlock)]
    inner = [bn for b in blocks for bn in (b.bn_a, b.bn_b, b.bn_project) if bn is not None]
    assert len(inner) == 2 + 3  # stage 1 halves the image: its shortcut has a projection
    assert resnet.get_layer("stem_bn").momentum == 0.8
    assert {bn.momentum for bn in inner} == {0.8}


def test_conv_dropout_adds_spatial_dropout_only_where_the_rate_is_positive() -> None:
    params = {"conv_layers": 3, "filters": 4, "padding": "same", "pooling_1": "max"}
    model = build("cnn", {**params, "conv_dropout": 0.25, "conv_dropout_1": 0.0})
    assert names(model)[:6] == [
        "conv_0", "conv_0_dropout", "conv_1", "conv_1_pool", "conv_2", "conv_2_dropout",
    ]  # fmt: skip
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.SpatialDropout2D)]
    assert [layer.rate for layer in dropouts] == [0.25, 0.25]
    assert count_params("cnn", {**params, "conv_dropout": 0.25}) == count_params("cnn", params)
    assert not any("Dropout" in kind for kind in kinds(build("cnn", params)))
    with pytest.raises(ArchitectureError, match=r"conv_dropout_2 must be in \[0, 1\)"):
        build("cnn", {**params, "conv_dropout_2": 1.0})


def test_head_global_avg_pools_each_feature_map_to_one_number() -> None:
    params = {"conv_layers": 2, "filters": 8, "filters_1": 24, "dense_layers": 0}
    flat = build("cnn", params)
    pooled = build("cnn", {**params, "head": "global_avg"})
    assert kinds(pooled) == ["Conv2D", "Conv2D", "GlobalAveragePooling2D", "Dense"]
    assert pooled.get_layer("global_avg").output.shape == (None, 24)
    assert flat.get_layer("flatten").output.shape == (None, 24 * 24 * 24)
    assert pooled.count_params() == flat.count_params() - (24 * 24 * 24 - 24) * 10
    # An MLP has no feature maps: its head is always Flatten.
    assert kinds(build("mlp", {"head": "global_avg", "dense_layers": 0})) == ["Flatten", "Dense"]


# --------------------------------------------------------------------------- resnet


def test_resnet_stages_blocks_and_width() -> None:
    model = build("resnet", {"stages": 3, "blocks_per_stage": 2, "width": 8, "head": "global_avg"})
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert [b.name for b in blocks] == [f"stage{s}_block{b}" for s in range(3) for b in range(2)]
    assert [b.filters for b in blocks] == [8, 8, 16, 16, 32, 32]  # doubled per stage
    assert [b.output.shape[1:3] for b in blocks] == [(28, 28)] * 2 + [(14, 14)] * 2 + [(7, 7)] * 2
    # Only the first block of a later stage changes the shape, so only it projects.
    assert [b.project is not None for b in blocks] == [False, False, True, False, True, False]
    assert names(model)[:3] == ["stem", "stem_bn", "stem_relu"]
    assert names(model)[-3:] == ["global_avg", "dense_0", "output"]
    assert model.get_layer("global_avg").output.shape == (None, 32)
    more = build("resnet", {"stages": 4, "blocks_per_stage": 1, "width": 2})
    shapes = [b.output.shape[1:] for b in more.layers if isinstance(b, ResidualBlock)]
    assert shapes == [(28, 28, 2), (14, 14, 4), (7, 7, 8), (4, 4, 16)]
    assert more.get_layer("flatten").output.shape == (None, 4 * 4 * 16)


def test_resnet_with_too_many_stages_raises_before_building() -> None:
    # 28 -> 14 -> 7 -> 4 -> 2 -> 1: six stages fit, a seventh has nothing to halve.
    assert count_params("resnet", {"stages": 6, "blocks_per_stage": 1, "width": 1}) > 0
    message = r"resnet stage 6 halves the image but gets 1x1; at most 6 stages fit"
    with pytest.raises(ArchitectureError, match=message):
        build("resnet", {"stages": 7, "blocks_per_stage": 1, "width": 1})
    with pytest.raises(ArchitectureError, match="width must be >= 1"):
        build("resnet", {"width": 0})
    with pytest.raises(ArchitectureError, match="blocks_per_stage must be >= 1"):
        build("resnet", {"blocks_per_stage": 0})


# The model is compiled but never trained, so its optimizer holds no slots yet and Keras says
# it skips them on load; a trained model loads without this warning (checked by hand).
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")
def test_a_tta_resnet_saves_and_loads_with_the_same_predictions(tmp_path: Path) -> None:
    model = build("resnet", {"stages": 2, "blocks_per_stage": 1, "width": 4, "bn_momentum": 0.5})
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    rng = np.random.default_rng(1)
    for variable in model.weights:  # every weight, moving statistics too, away from its init
        variable.assign(rng.uniform(0.5, 1.0, variable.shape).astype("float32"))
    wrapped = with_tta(model, "flip")
    wrapped.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), wrapped.predict(x, verbose=0))
    inner = classifier_of(loaded)
    assert inner is not loaded and inner.name == "resnet"
    assert inner.get_layer("stage1_block0").momentum == 0.5
    np.testing.assert_allclose(inner.predict(x, verbose=0), model.predict(x, verbose=0))


# --------------------------------------------------------------------------- optimizer, loss


def test_weight_decay_reaches_the_optimizer_and_none_keeps_its_own() -> None:
    assert build("mlp", {"optimizer": "adamw"}).optimizer.weight_decay == pytest.approx(0.004)
    assert build("mlp", {"optimizer": "adam"}).optimizer.weight_decay is None
    assert build("mlp", {"optimizer": "sgd"}).optimizer.weight_decay is None
    for optimizer in ("adamw", "sgd"):
        model = build("mlp", {"optimizer": optimizer, "weight_decay": 5e-4})
        assert model.optimizer.weight_decay == pytest.approx(5e-4)
    assert build("mlp", {"optimizer": "adamw", "weight_decay": 0.0}).optimizer.weight_decay == 0


def test_weight_decay_shrinks_kernels_not_biases_or_batch_norm() -> None:
    """Decoupled decay, one SGD step from the same weights: the kernels of the decaying model
    are lr * wd * kernel smaller than the other's, everything else is the same."""
    params = {"optimizer": "sgd", "learning_rate": 0.1, "batch_norm": True, "dense_units": 8}
    decayed = build("mlp", {**params, "weight_decay": 0.5})
    plain = build("mlp", params)
    plain.set_weights(decayed.get_weights())
    before = {v.path: np.array(v) for v in decayed.trainable_variables}
    x = np.random.default_rng(1).random((16, 28, 28, 1), dtype=np.float32)
    y = np.arange(16) % 10
    decayed.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    kinds_seen = set()
    for a, b in zip(decayed.trainable_variables, plain.trainable_variables, strict=True):
        kind = a.path.rsplit("/", 1)[-1]
        kinds_seen.add(kind)
        expected = np.array(b) - 0.1 * 0.5 * before[a.path] if kind == "kernel" else np.array(b)
        np.testing.assert_allclose(np.array(a), expected, rtol=1e-5, atol=1e-6, err_msg=a.path)
    assert kinds_seen == {"kernel", "bias", "gamma", "beta"}


def test_label_smoothing_compiles_a_categorical_loss_for_one_hot_targets() -> None:
    assert one_hot_labels({}) is False
    assert build("mlp", {"label_smoothing": 0.0}).loss == "sparse_categorical_crossentropy"
    model = build("mlp", {"label_smoothing": 0.1, "dense_units": 8})
    assert one_hot_labels({"label_smoothing": 0.1}) is True
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    with pytest.raises(ArchitectureError, match=r"label_smoothing must be in \[0, 1\)"):
        build("mlp", {"label_smoothing": 1.0})


def schedule_at(model: keras.Model, steps: list[int]) -> list[float]:
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    return [float(schedule(step)) for step in steps]


@pytest.mark.parametrize(
    ("params", "steps", "expected"),
    [
        # 2 epochs x 50 steps = 100 steps. one_cycle: lr/25 up to lr at 30%, cosine to ~0.
        ({"lr_schedule": "one_cycle"}, [0, 15, 30, 65, 100], [4e-4, 5.2e-3, 0.01, 5e-3, 4e-8]),
        # ... with warm-up given in epochs: the peak moves to the end of the first epoch.
        ({"lr_schedule": "one_cycle", "warmup_epochs": 1}, [0, 50, 75, 100], [4e-4, 0.01, 5e-3, 0]),
        ({"lr_schedule": "cosine"}, [0, 50, 100, 150], [0.01, 5e-3, 0, 0]),
        ({"lr_schedule": "cosine", "warmup_epochs": 0.5}, [0, 25, 100], [0, 0.01, 0]),
        ({"warmup_epochs": 1}, [0, 25, 50, 100], [0, 5e-3, 0.01, 0.01]),  # constant + warm-up
    ],
)  # fmt: skip
def test_learning_rate_schedules_over_the_runs_own_steps(
    params: dict[str, Any], steps: list[int], expected: list[float]
) -> None:
    model = build("mlp", {"learning_rate": 0.01, "epochs": 2, **params}, steps_per_epoch=50)
    assert schedule_at(model, steps) == pytest.approx(expected, abs=1e-6)


def test_a_constant_learning_rate_is_no_schedule() -> None:
    model = build("mlp", {"learning_rate": 0.01, "lr_schedule": "constant"}, steps_per_epoch=50)
    assert not isinstance(
        model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
    )
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_bfloat16_computes_in_bfloat16_and_answers_float32() -> None:
    params = {"conv_layers": 2, "filters": 4, "batch_norm": True, "precision": "bfloat16"}
    for model in (build("cnn", params), build("resnet", {**params, "width": 2, "stages": 2})):
        hidden, output = model.layers[:-1], model.layers[-1]
        assert {layer.compute_dtype for layer in hidden} == {"bfloat16"}
        assert {layer.variable_dtype for layer in hidden} == {"float32"}  # weights stay float32
        assert (output.name, output.compute_dtype) == ("output", "float32")
        assert model.inputs[0].dtype == "float32"
        x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
        probabilities = model.predict(x, verbose=0)
        assert probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert {layer.compute_dtype for layer in build("cnn", {}).layers} == {"float32"}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"bn_momentum": 1.0, "batch_norm": True}, r"bn_momentum must be in \[0, 1\)"),
        ({"warmup_epochs": -1}, "warmup_epochs must be >= 0"),
    ],
)
def test_architecture_error_for_out_of_range_new_params(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ArchitectureError, match=match):
        build("cnn", params)


@pytest.mark.parametrize(
    "params",
    [{"head": "max"}, {"lr_schedule": "step"}, {"precision": "float16"}],
)
def test_unknown_choices_of_new_params_raise(params: dict[str, Any]) -> None:
    name, value = next(iter(params.items()))
    with pytest.raises(UnknownNameError, match=f"{name} must be one of .* but got '{value}'"):
        build("cnn", params)


# --------------------------------------------------------------------------- test-time augmentation


def test_tta_flip_averages_the_image_and_its_mirror() -> None:
    model = build("cnn", {"conv_layers": 1, "filters": 4, "dense_layers": 0})
    x = np.random.default_rng(2).random((5, 28, 28, 1), dtype=np.float32)
    wrapped = with_tta(model, "flip")
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(expected, model.predict(x, verbose=0))  # the mirror counts
    assert wrapped.count_params() == model.count_params()
    assert classifier_of(wrapped) is model
    assert classifier_of(model) is model
    assert with_tta(model, "none") is model
    with pytest.raises(UnknownNameError, match="tta must be one of"):
        with_tta(model, "rotate")


def _moved(x: np.ndarray, down: int, right: int) -> np.ndarray:
    """`x` moved by whole pixels, zeros coming in: numpy's own way, for the checks below."""
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    return padded[:, 1 - down : 29 - down, 1 - right : 29 - right]


def test_tta_flip_shift_weighs_the_mirror_pair_half_and_the_moved_pairs_a_quarter() -> None:
    model = build("cnn", {"conv_layers": 1, "filters": 4, "dense_layers": 0})
    x = np.random.default_rng(3).random((5, 28, 28, 1), dtype=np.float32)

    def pair(images: np.ndarray) -> np.ndarray:
        return model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)

    expected = 0.25 * pair(x) + 0.125 * pair(_moved(x, -1, -1)) + 0.125 * pair(_moved(x, 1, 1))
    wrapped = with_tta(model, "flip_shift")
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-7)
    flip_only = with_tta(model, "flip").predict(x, verbose=0)
    assert not np.allclose(expected, flip_only)  # the moved views count
    assert classifier_of(wrapped) is model and tta_of(wrapped) == "flip_shift"
    assert tta_of(with_tta(model, "flip")) == "flip" and tta_of(model) == "none"


@pytest.mark.parametrize("tta", ["flip", "flip_shift"])
def test_the_shops_answer_is_the_tta_models_and_its_embedding_the_photo_as_uploaded(
    tmp_path: Path, tta: str
) -> None:
    model = build("cnn", {"conv_layers": 1, "filters": 4, "dense_units": 8})
    x = np.random.default_rng(4).random((3, 28, 28, 1), dtype=np.float32)
    wrapped = with_tta(model, tta)
    wrapped.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    probabilities, embedding = answer_and_embedding(loaded).predict(x, verbose=0)
    np.testing.assert_allclose(probabilities, wrapped.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    penultimate = keras.Model(model.inputs[0], model.layers[-2].output)
    np.testing.assert_allclose(embedding, penultimate.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_model_registered_with_the_first_flip_wrapper_is_served_with_its_own_answer(
    tmp_path: Path,
) -> None:
    """Versions registered before TTAViews hold a HorizontalFlip and an Average layer."""
    model = build("cnn", {"conv_layers": 1, "filters": 4, "dense_units": 8})
    image = keras.Input(shape=(28, 28, 1), name="image")
    mean = keras.layers.Average(name="tta_mean")(
        [model(image), model(HorizontalFlip(name="tta_flip")(image))]
    )
    keras.Model(image, mean, name=f"{model.name}_tta_flip").save(tmp_path / "old.keras")
    old = keras.models.load_model(tmp_path / "old.keras")
    x = np.random.default_rng(5).random((3, 28, 28, 1), dtype=np.float32)
    probabilities, _ = answer_and_embedding(old).predict(x, verbose=0)
    np.testing.assert_allclose(probabilities, old.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    assert classifier_of(old).name == "cnn"
