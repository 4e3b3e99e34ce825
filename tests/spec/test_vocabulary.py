"""Tests for fashion_models.spec.vocabulary: the parameter names shared by search-space files
and the model builder."""

from __future__ import annotations

from fashion_models.spec.vocabulary import DEFAULTS, RULES, params_for
from fashion_models.train.model import MODEL_TYPES


def test_vocabulary() -> None:
    assert MODEL_TYPES == ("cnn", "mlp")
    cnn, mlp = set(params_for("cnn")), set(params_for("mlp"))
    assert cnn - mlp == {"conv_layers", "filters", "kernel_size", "pooling", "padding"}
    per_layer = {name: rule.layers for name, rule in RULES.items() if rule.layers}
    assert per_layer == {
        "filters": "conv_layers",
        "kernel_size": "conv_layers",
        "pooling": "conv_layers",
        "dense_units": "dense_layers",
        "dropout": "dense_layers",
    }
    assert set(DEFAULTS) == cnn  # the defaults are the seed CNN's
