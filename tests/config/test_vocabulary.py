"""Tests for fashion_models.config.vocabulary: the parameter names shared by search-space files
and the model builder."""

from __future__ import annotations

import pytest

from fashion_models.config.vocabulary import DEFAULTS, RULES, params_for
from fashion_models.train.model import MODEL_TYPES


def test_vocabulary() -> None:
    assert MODEL_TYPES == ("cnn", "mlp", "resnet")
    cnn, mlp, resnet = (set(params_for(m)) for m in MODEL_TYPES)
    conv = {
        "conv_layers",
        "conv_layout",
        "filters",
        "kernel_size",
        "pooling",
        "padding",
        "conv_dropout",
    }
    assert cnn - mlp == conv | {"head", "whitening"}
    assert resnet - mlp == {"stages", "blocks_per_stage", "width", "head", "whitening"}
    per_layer = {name: rule.layers for name, rule in RULES.items() if rule.layers}
    assert per_layer == {
        "filters": "conv_layers",
        "kernel_size": "conv_layers",
        "pooling": "conv_layers",
        "conv_dropout": "conv_layers",
        "dense_units": "dense_layers",
        "dropout": "dense_layers",
    }
    assert set(DEFAULTS) == set(RULES)  # every name has a default: the seed CNN's, or "off"


def test_every_default_passes_its_own_rule() -> None:
    for name, value in DEFAULTS.items():
        if value is None:  # weight_decay: the optimizer's own
            assert name == "weight_decay"
            continue
        assert RULES[name].problem(value) is None, name


def test_the_additions_default_to_off() -> None:
    """Nothing new changes the seed files' training unless a file asks for it."""
    off = {
        "conv_dropout": 0.0,
        "head": "flatten",
        "weight_decay": None,
        "label_smoothing": 0.0,
        "lr_schedule": "constant",
        "warmup_epochs": 0.0,
        "augment_shift": 0,
        "augment_flip": False,
        "augment_erasing": 0.0,
        "tta": "none",
        "precision": "float32",
        "ema_momentum": 0.0,
        "whitening": 0,
        "flip_order": "random",
    }
    assert {name: DEFAULTS[name] for name in off} == off
    # Batch norm that settles within a short trial (used only where batch_norm is on).
    assert DEFAULTS["bn_momentum"] == 0.9 and DEFAULTS["batch_norm"] is False


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("bn_momentum", 1.0, "expected a value < 1"),
        ("conv_dropout", -0.1, "expected a value >= 0"),
        ("head", "max", "expected one of ['flatten', 'global_avg']"),
        ("stages", 1.5, "expected an integer"),
        ("width", 0, "expected a value >= 1"),
        ("weight_decay", -1e-4, "expected a value >= 0"),
        ("label_smoothing", 1.0, "expected a value < 1"),
        ("lr_schedule", "step", "expected one of ['constant', 'cosine', 'one_cycle']"),
        ("warmup_epochs", -1, "expected a value >= 0"),
        ("augment_shift", 2.5, "expected an integer"),
        ("augment_flip", "yes", "expected true or false"),
        ("augment_erasing", 1.0, "expected a value < 1"),
        ("tta", "rotate", "expected one of ['none', 'flip', 'flip_shift']"),
        ("ema_momentum", 1.0, "expected a value < 1"),
        ("ema_momentum", -0.5, "expected a value >= 0"),
        ("precision", "float16", "expected one of ['float32', 'bfloat16', 'auto']"),
    ],
)
def test_rules_of_the_new_params(name: str, value: object, problem: str) -> None:
    assert RULES[name].problem(value) == problem


@pytest.mark.parametrize(
    ("name", "value"),
    [("bn_momentum", 0.0), ("weight_decay", 0.0), ("warmup_epochs", 2), ("augment_shift", 4),
     ("augment_erasing", 0.5), ("tta", "flip"), ("tta", "flip_shift"), ("precision", "bfloat16"),
     ("width", 8), ("ema_momentum", 0.99)],
)  # fmt: skip
def test_rules_allow_the_values_a_file_would_use(name: str, value: object) -> None:
    assert RULES[name].problem(value) is None
