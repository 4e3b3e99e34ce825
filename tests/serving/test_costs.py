"""Tests for fashion_models.serving.costs: what a model costs the shop, measured on real Keras
models through the shop's own forward graph, and the budget rule."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fashion_models.serving.catalog import embedder
from fashion_models.serving.costs import ServingCosts, budget_reason, measure, over_budget
from fashion_models.serving.forward import forward_graph
from fashion_models.train.model import build, with_tta

# Per-layer values as a trial samples them: name_i.
MLP = {"dense_layers": 2, "dense_units_0": 128, "dense_units_1": 64, "dropout_0": 0.5}
CNN = {
    "conv_layers": 4,
    **{f"filters_{i}": f for i, f in enumerate((32, 32, 64, 64))},
    "padding": "same",
    **{f"pooling_{i}": p for i, p in enumerate(("none", "max", "none", "max"))},
    "dense_layers": 1,
    "dense_units": 128,
}


def _dense_flops(model: keras.Model) -> int:
    """By hand: a Dense layer is a matrix product (a multiply-add, 2 FLOPs, per weight of its
    kernel) plus its bias (1 per unit)."""
    total = 0
    for layer in model.layers:
        kernel, bias = layer.get_weights() if isinstance(layer, keras.layers.Dense) else (0, 0)
        total += 2 * np.size(kernel) + np.size(bias)
    return total


@pytest.fixture(scope="module")
def mlp_costs() -> tuple[keras.Model, ServingCosts]:
    model = build("mlp", MLP)
    return model, measure(model)


def test_an_mlp_costs_what_its_dense_layers_compute(
    mlp_costs: tuple[keras.Model, ServingCosts],
) -> None:
    model, costs = mlp_costs
    assert costs.params == model.count_params() == 109_386  # the team's MLP notebook
    # 784x128 + 128x64 + 64x10 multiply-adds and the biases: the shop's one pass gives both
    # the classes and the embedding.
    assert costs.mflops == pytest.approx(_dense_flops(model) / 1e6, abs=1e-4)
    assert costs.mflops == pytest.approx(0.218570, abs=1e-4)
    # float32 weights in a zip with the model's config: a little over 4 bytes a weight.
    assert 4 * costs.params / 1e6 < costs.model_mb < 4 * costs.params / 1e6 + 0.1
    assert 0 < costs.serve_ms <= costs.serve_ms_p95


@pytest.mark.parametrize(("tta", "views"), [("flip", 2), ("flip_shift", 6)])
def test_test_time_augmentation_is_paid_for_per_photo(
    mlp_costs: tuple[keras.Model, ServingCosts], tta: str, views: int
) -> None:
    model, plain = mlp_costs
    costs = measure(with_tta(build("mlp", MLP), tta))
    output = model.get_layer("output").get_weights()
    last = 2 * output[0].size + output[1].size
    # The network on each view of the photo (the embedding is on the way), and their weighted
    # mean (a few hundred element-wise operations at most): once per view, not once more.
    expected = views * _dense_flops(model)
    assert costs.mflops == pytest.approx(expected / 1e6, abs=5e-4)
    assert last < _dense_flops(model)
    assert costs.params == plain.params  # the mirror is not a weight


def test_a_conv_network_costs_more_than_an_mlp_on_every_count(
    mlp_costs: tuple[keras.Model, ServingCosts],
) -> None:
    _, mlp = mlp_costs
    cnn = measure(build("cnn", CNN))
    # The four 3x3 convs at 28x28 and 14x14 alone: 2 * 9 * (28^2 (1*32 + 32*32) + 14^2
    # (32*64 + 64*64)) multiply-adds.
    convs = 2 * 9 * (28 * 28 * (1 * 32 + 32 * 32) + 14 * 14 * (32 * 64 + 64 * 64))
    assert cnn.mflops > convs / 1e6 > 100 * mlp.mflops
    assert cnn.params > mlp.params and cnn.model_mb > mlp.model_mb
    assert cnn.serve_ms > mlp.serve_ms


@pytest.mark.parametrize("tta", ["none", "flip", "flip_shift"])
def test_the_measured_graph_answers_as_the_model_and_embeds_as_the_catalog(tta: str) -> None:
    model = with_tta(build("mlp", MLP), tta)
    photos = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)
    probabilities, embeddings = (np.asarray(o) for o in forward_graph(model)(photos))
    np.testing.assert_allclose(probabilities, model(photos), rtol=1e-6, atol=1e-7)
    # The penultimate layer of the network inside, on the photo as uploaded.
    np.testing.assert_allclose(embeddings, embedder(model)(photos), rtol=1e-6, atol=1e-7)
    assert embeddings.shape == (3, 64)


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        ({}, ""),
        ({"serve_ms": 2.0, "params": 100_000}, ""),
        ({"serve_ms": 1.0}, "over budget: serve_ms 1.5 > 1"),
        ({"params": 50_000, "mflops": 1.0}, "over budget: params 80000 > 50000, mflops 2.5 > 1"),
        ({"model_mb": 1.0, "serve_ms": 1.5}, ""),  # a maximum is allowed
    ],
)
def test_the_budget_reason_names_each_cost_over_its_maximum(
    budget: dict[str, float], reason: str
) -> None:
    costs = {"serve_ms": 1.5, "params": 80_000, "model_mb": 0.5, "mflops": 2.5}
    assert budget_reason(costs, budget) == reason
    assert bool(over_budget(costs, budget)) == bool(reason)


def test_a_cost_never_measured_counts_as_over_the_budget() -> None:
    # A model logged before costs were measured: nothing says it fits.
    assert budget_reason({"params": 10}, {"serve_ms": 1.0}) == (
        "over budget: serve_ms not measured"
    )
    assert over_budget({"serve_ms": 3.0}, {"serve_ms": 2.0}) == {"serve_ms": 0.5}
