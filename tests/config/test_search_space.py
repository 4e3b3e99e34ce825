"""Tests for fashion_models.config.search_space: search-space YAML -> validated specs -> Optuna.

Every bad file is one row of a table: YAML in, (key path, line, fragment of message) out.
Every good file is checked against a real in-memory Optuna study.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FixedTrial

from fashion_models.config.search_space import SearchSpace, load_search_space
from fashion_models.config.yaml_source import ConfigError
from tests.helpers import assert_config_error, write_yaml

REPO = Path(__file__).resolve().parents[2]
SHIPPED_SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))

optuna.logging.set_verbosity(optuna.logging.WARNING)


def load_text(directory: Path, text: str) -> SearchSpace:
    return load_search_space(write_yaml(directory, text))


def memory_study(seed: int = 0) -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))


# --------------------------------------------------------------------------- bad files

# (yaml, key path, line, fragment of the message)
BAD_SPACES = [
    # --- the file as a whole
    pytest.param(
        """
        model: cnn
        params:
          epochs: {type: fixed, value: 3}
        trials: 5
        """,
        "trials",
        4,
        "unknown key (allowed: model, params, description)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        """
        model: rnn
        params:
          epochs: {type: fixed, value: 3}
        """,
        "model",
        1,
        "expected one of ['cnn', 'mlp', 'resnet'], found 'rnn' (string)",
        id="model-unknown",
    ),
    pytest.param(
        """
        params:
          epochs: {type: fixed, value: 3}
        """,
        "model",
        1,
        "found None (null)",
        id="model-missing",
    ),
    pytest.param(
        """
        model: mlp
        params: {}
        """,
        "params",
        2,
        "expected a non-empty mapping of params",
        id="params-empty",
    ),
    pytest.param("", "", None, "expected a mapping with keys model and params", id="empty-file"),
    pytest.param(
        """
        - model: mlp
        """,
        "",
        1,
        "expected a mapping with keys model and params, found [",
        id="top-level-list",
    ),
    # --- duplicate keys (the line of the second one)
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: 3}
          epochs: {type: fixed, value: 4}
        """,
        "params.epochs",
        4,
        "duplicate key",
        id="duplicate-param",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs:
            type: int
            low: 1
            high: 5
            low: 2
        """,
        "params.epochs.low",
        7,
        "duplicate key",
        id="duplicate-key-inside-param",
    ),
    pytest.param(
        """
        model: cnn
        params:
          epochs: {type: fixed, value: 3}
        model: mlp
        """,
        "model",
        4,
        "duplicate key",
        id="duplicate-top-level-key",
    ),
    pytest.param(
        """
        model: mlp
        params:
          1: {type: fixed, value: 3}
        """,
        "params",
        3,
        "keys must be strings, found 1 (integer)",
        id="non-string-key",
    ),
    # --- param names and types
    pytest.param(
        """
        model: cnn
        params:
          filter: {type: fixed, value: 32}
        """,
        "params.filter",
        3,
        "unknown parameter (known: learning_rate",
        id="unknown-param",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: 3}
          conv_layers: {type: int, low: 1, high: 2}
        """,
        "params.conv_layers",
        4,
        "not a parameter of a mlp model",
        id="conv-param-in-mlp",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: 3
        """,
        "params.epochs",
        3,
        "expected a mapping with a type key, found 3 (integer)",
        id="param-not-a-mapping",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: integer, low: 1, high: 3}
        """,
        "params.epochs.type",
        3,
        "expected one of ['int', 'float', 'categorical', 'fixed'], found 'integer'",
        id="type-not-in-list",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {low: 1, high: 3}
        """,
        "params.epochs.type",
        3,
        "found None (null)",
        id="type-missing",
    ),
    pytest.param(
        """
        model: cnn
        params:
          filters: {type: float, low: 8, high: 64}
        """,
        "params.filters.type",
        3,
        "expected one of ['int', 'categorical', 'fixed'], found 'float'",
        id="float-type-for-int-param",
    ),
    pytest.param(
        """
        model: mlp
        params:
          optimizer: {type: int, low: 1, high: 2}
        """,
        "params.optimizer.type",
        3,
        "expected one of ['categorical', 'fixed'], found 'int'",
        id="int-type-for-choice-param",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: 1, high: 3, choices: [1, 2]}
        """,
        "params.epochs.choices",
        3,
        "unknown key for a int param (allowed: high, log, low",
        id="choices-on-int",
    ),
    pytest.param(
        """
        model: mlp
        params:
          optimizer: {type: categorical, choices: [adam], value: adam}
        """,
        "params.optimizer.value",
        3,
        "unknown key for a categorical param",
        id="value-on-categorical",
    ),
    # --- ranges
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, high: 3}
        """,
        "params.epochs",
        3,
        "an int param needs low and high; low is missing",
        id="missing-low",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate:
            type: float
            low: 1.0e-4
        """,
        "params.learning_rate",
        3,
        "high is missing",
        id="missing-high",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: fast, high: 0.1}
        """,
        "params.learning_rate.low",
        3,
        "expected a number, found 'fast' (string)",
        id="non-number-low",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: 1.5, high: 3}
        """,
        "params.epochs.low",
        3,
        "expected an integer, found 1.5 (number)",
        id="float-low-for-int",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: true, high: 3}
        """,
        "params.epochs.low",
        3,
        "expected an integer, found True (boolean)",
        id="bool-low",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: .nan, high: 0.1}
        """,
        "params.learning_rate.low",
        3,
        "expected a number, found nan",
        id="nan-low",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: 5, high: 3}
        """,
        "params.epochs",
        3,
        "`low <= high` must hold, but got (low=5, high=3)",
        id="low-above-high",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: 0.0, high: 0.1, log: true}
        """,
        "params.learning_rate.low",
        3,
        "a log-scale range needs low > 0, found 0.0",
        id="log-with-zero-low",
    ),
    pytest.param(
        """
        model: cnn
        params:
          filters: {type: int, low: -8, high: 64, log: true}
        """,
        "params.filters.low",
        3,
        "a log-scale range needs low > 0, found -8",
        id="log-with-negative-low",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: 1.0e-4, high: 0.1, log: 1}
        """,
        "params.learning_rate.log",
        3,
        "expected true or false, found 1 (integer)",
        id="log-not-bool",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: 1.0e-4, high: 0.1, log: "yes"}
        """,
        "params.learning_rate.log",
        3,
        "expected true or false, found 'yes' (string)",
        id="log-quoted-string",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: 1.0e-4, high: 0.1, step: 1.0e-3, log: true}
        """,
        "params.learning_rate.step",
        3,
        "step cannot be combined with log: true",
        id="float-step-with-log",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: 1, high: 9, step: 2, log: true}
        """,
        "params.epochs.step",
        3,
        "step cannot be combined with log: true",
        id="int-step-with-log",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dropout: {type: float, low: 0.0, high: 0.5, step: 0}
        """,
        "params.dropout.step",
        3,
        "expected a step > 0, found 0",
        id="zero-step",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: 1, high: 9, step: -2}
        """,
        "params.epochs.step",
        3,
        "expected a step > 0, found -2",
        id="negative-step",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: int, low: 1, high: 9, step: 0.5}
        """,
        "params.epochs.step",
        3,
        "expected an integer, found 0.5",
        id="fractional-step-for-int",
    ),
    # --- choices and fixed values
    pytest.param(
        """
        model: mlp
        params:
          optimizer: {type: categorical, choices: []}
        """,
        "params.optimizer.choices",
        3,
        "expected a non-empty list, found [] (list)",
        id="empty-choices",
    ),
    pytest.param(
        """
        model: mlp
        params:
          optimizer: {type: categorical, choices: adam}
        """,
        "params.optimizer.choices",
        3,
        "expected a non-empty list, found 'adam' (string)",
        id="choices-not-a-list",
    ),
    pytest.param(
        """
        model: mlp
        params:
          optimizer:
            type: categorical
            choices:
              - adam
              - {name: sgd}
        """,
        "params.optimizer.choices[1]",
        7,
        "expected a number, string or boolean, found {'name'",
        id="choice-is-a-mapping",
    ),
    pytest.param(
        """
        model: cnn
        params:
          filters: {type: categorical, choices: [[16, 32]]}
        """,
        "params.filters.choices[0]",
        3,
        "expected a number, string or boolean, found [16, 32]",
        id="choice-is-a-list",
    ),
    pytest.param(
        """
        model: mlp
        params:
          batch_size: {type: categorical, choices: [32, 64, 32]}
        """,
        "params.batch_size.choices",
        3,
        "choices must be distinct",
        id="duplicate-choices",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: categorical, choices: [0.001, 1e-3]}
        """,
        "params.learning_rate.choices",
        3,
        "choices must be distinct",
        id="duplicate-choices-once-1e-3-is-a-number",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dropout: {type: categorical, choices: [0, 0.0]}
        """,
        "params.dropout.choices",
        3,
        "choices must be distinct",
        id="duplicate-choices-an-int-and-its-float",
    ),
    pytest.param(
        """
        model: mlp
        params:
          optimizer: {type: categorical, choices: [adam, adagrad]}
        """,
        "params.optimizer.choices[1]",
        3,
        "optimizer: expected one of ['adam', 'adamw', 'sgd', 'rmsprop', 'nadam'], found 'adagrad'",
        id="optimizer-unknown",
    ),
    pytest.param(
        """
        model: cnn
        params:
          pooling: {type: fixed, value: min}
        """,
        "params.pooling.value",
        3,
        "pooling: expected one of ['none', 'max', 'avg'], found 'min'",
        id="pooling-unknown",
    ),
    pytest.param(
        """
        model: mlp
        params:
          batch_norm: {type: categorical, choices: ["true", false]}
        """,
        "params.batch_norm.choices[0]",
        3,
        "batch_norm: expected true or false, found 'true'",
        id="bool-param-given-a-string",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed}
        """,
        "params.epochs",
        3,
        "a fixed param needs a value",
        id="fixed-without-value",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: 2024-01-01}
        """,
        "params.epochs.value",
        3,
        "expected a number, string or boolean, found datetime.date",
        id="fixed-value-a-date",
    ),
    # --- domains from the vocabulary
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: float, low: 0, high: 0.1}
        """,
        "params.learning_rate.low",
        3,
        "learning_rate: expected a value > 0, found 0 (integer)",
        id="learning-rate-zero",
    ),
    pytest.param(
        """
        model: mlp
        params:
          learning_rate: {type: fixed, value: -1e-3}
        """,
        "params.learning_rate.value",
        3,
        "expected a value > 0, found -0.001",
        id="learning-rate-negative",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dropout: {type: float, low: 0.0, high: 1.0}
        """,
        "params.dropout.high",
        3,
        "dropout: expected a value < 1, found 1.0",
        id="dropout-one",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dropout: {type: categorical, choices: [-0.1, 0.2]}
        """,
        "params.dropout.choices[0]",
        3,
        "dropout: expected a value >= 0, found -0.1",
        id="dropout-negative",
    ),
    pytest.param(
        """
        model: mlp
        params:
          batch_size: {type: fixed, value: 0}
        """,
        "params.batch_size.value",
        3,
        "batch_size: expected a value >= 1, found 0",
        id="batch-size-zero",
    ),
    # --- per-layer params
    pytest.param(
        """
        model: cnn
        params:
          conv_layers: {type: int, low: 1, high: 3}
          optimizer: {type: fixed, value: adam, per_layer: conv_layers}
        """,
        "params.optimizer.per_layer",
        4,
        "expected no per_layer (it is one value for the whole model)",
        id="per-layer-on-shared-param",
    ),
    pytest.param(
        """
        model: cnn
        params:
          conv_layers: {type: int, low: 1, high: 3}
          dense_layers: {type: int, low: 1, high: 2}
          filters: {type: categorical, choices: [16, 32], per_layer: dense_layers}
        """,
        "params.filters.per_layer",
        5,
        "expected per_layer: conv_layers, found 'dense_layers' (string)",
        id="per-layer-wrong-count-param",
    ),
    pytest.param(
        """
        model: cnn
        params:
          filters:
            type: categorical
            choices: [16, 32]
            per_layer: conv_layers
        """,
        "params.filters.per_layer",
        6,
        "per_layer points at 'conv_layers', which is not in params",
        id="per-layer-count-param-missing",
    ),
    pytest.param(
        """
        model: cnn
        params:
          conv_layers: {type: categorical, choices: [1, 2.5]}
          filters: {type: categorical, choices: [16, 32], per_layer: conv_layers}
        """,
        "params.conv_layers.choices[1]",
        3,
        "conv_layers: expected an integer, found 2.5",
        id="per-layer-count-param-not-int",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dense_layers: {type: int, low: 1, high: 3}
          dense_units:
            type: fixed
            value: [128, 64]
            per_layer: dense_layers
        """,
        "params.dense_units.value",
        6,
        "expected one value per layer (dense_layers goes up to 3), found 2",
        id="fixed-per-layer-list-too-short",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dense_layers: {type: int, low: 1, high: 3}
          dense_units: {type: fixed, value: [], per_layer: dense_layers}
        """,
        "params.dense_units.value",
        4,
        "expected one value per layer, found an empty list",
        id="fixed-per-layer-list-empty",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dense_layers: {type: int, low: 1, high: 2}
          dense_units: {type: fixed, value: [128, 64]}
        """,
        "params.dense_units.value",
        4,
        "expected a number, string or boolean, found [128, 64]",
        id="fixed-list-without-per-layer",
    ),
    pytest.param(
        """
        model: mlp
        params:
          dense_layers: {type: int, low: 1, high: 2}
          dropout: {type: fixed, value: [0.5, 1.5], per_layer: dense_layers}
        """,
        "params.dropout.value[1]",
        4,
        "dropout: expected a value < 1, found 1.5",
        id="fixed-per-layer-list-value-out-of-range",
    ),
    # --- YAML itself: safe loading, syntax
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: !!python/name:os.system ''}
        """,
        "params.epochs.value",
        3,
        "could not determine a constructor for the tag",
        id="python-name-tag",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: !!python/object/apply:os.getcwd []}
        """,
        "params.epochs.value",
        3,
        "",  # refused today only because the node is a list; see the collection-tag test
        id="python-apply-tag",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: 3
          batch_size: {type: fixed, value: 32}
        """,
        "",
        4,
        "is not valid YAML: expected ',' or '}'",
        id="invalid-yaml-unclosed-flow-mapping",
    ),
    pytest.param(
        "model: mlp\nparams:\n\tepochs: {type: fixed, value: 3}\n",
        "",
        3,
        "is not valid YAML: found character '\\t'",
        id="invalid-yaml-tab",
    ),
    pytest.param(
        """
        model: mlp
        params:
          epochs: {type: fixed, value: 3}
         batch_size: {type: fixed, value: 32}
        """,
        "",
        4,
        "is not valid YAML",
        id="invalid-yaml-bad-indent",
    ),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), BAD_SPACES)
def test_bad_search_space_is_a_config_error(
    tmp_path: Path, text: str, key: str, line: int | None, fragment: str
) -> None:
    path = write_yaml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    assert_config_error(info.value, path, key, line, fragment)


def test_missing_search_space_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    assert_config_error(info.value, path, "", None, "file not found")


def test_python_tags_never_run_code(tmp_path: Path) -> None:
    """Safe loading: an apply tag is refused, and its call never happens."""
    target = tmp_path / "pwned"
    path = write_yaml(
        tmp_path,
        f"""
        model: mlp
        params:
          epochs: {{type: fixed, value: !!python/object/apply:os.mkdir ["{target}"]}}
        """,
    )
    with pytest.raises(ConfigError):
        load_search_space(path)
    assert not target.exists()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param(
            """
            model: cnn
            params:
              conv_layers: {type: fixed, value: 1}
              filters: {type: categorical, choices: !!python/tuple [16, 32], per_layer: conv_layers}
            """,
            "params.filters.choices",
            id="python-tuple-on-a-sequence",
        ),
        pytest.param(
            """
            model: mlp
            params: !!python/object:collections.OrderedDict
              epochs: {type: fixed, value: 3}
            """,
            "params",
            id="python-object-on-a-mapping",
        ),
    ],
)
def test_python_tags_on_collections_are_rejected(tmp_path: Path, text: str, key: str) -> None:
    path = write_yaml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    assert info.value.key == key
    assert "python/" in info.value.message


def test_float_step_one_with_log_is_a_config_error(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        model: mlp
        params:
          learning_rate: {type: float, low: 1.0e-4, high: 1.0, step: 1, log: true}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    assert_config_error(info.value, path, "params.learning_rate.step", 3, "log")


def test_int_step_one_with_log_is_allowed(tmp_path: Path) -> None:
    """Optuna accepts step=1 with log=True for ints; so does the file."""
    space = load_text(
        tmp_path,
        """
        model: mlp
        params:
          batch_size: {type: int, low: 16, high: 256, step: 1, log: true}
        """,
    )
    trial = memory_study().ask()
    value = space.suggest(trial)["batch_size"]
    assert 16 <= value <= 256
    assert trial.distributions["batch_size"] == IntDistribution(16, 256, log=True, step=1)


# --------------------------------------------------------------------------- good files

CNN_SPACE = """
model: cnn
params:
  conv_layers: {type: int, low: 1, high: 3}
  filters: {type: categorical, choices: [16, 32, 64], per_layer: conv_layers}
  kernel_size: {type: int, low: 3, high: 5, step: 2, per_layer: conv_layers}
  pooling: {type: fixed, value: [max, none, avg], per_layer: conv_layers}
  padding: {type: fixed, value: same}
  dense_layers: {type: fixed, value: 2}
  dropout: {type: float, low: 0.0, high: 0.2, step: 0.1, per_layer: dense_layers}
  learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}
"""


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_per_layer_params_are_sampled_only_for_layers_that_exist(
    tmp_path: Path, layers: int
) -> None:
    space = load_text(tmp_path, CNN_SPACE)
    study = memory_study()
    study.enqueue_trial({"conv_layers": layers})
    trial = study.ask()
    params = space.suggest(trial)

    expected_sampled = {"conv_layers", "dropout_0", "dropout_1", "learning_rate"}
    expected_sampled |= {
        f"{name}_{i}" for name in ("filters", "kernel_size") for i in range(layers)
    }
    assert set(trial.distributions) == expected_sampled  # fixed params are never asked
    assert params["conv_layers"] == layers
    for name in ("filters", "kernel_size", "pooling"):
        assert [k for k in params if k.startswith(f"{name}_")] == [
            f"{name}_{i}" for i in range(layers)
        ]
    assert f"filters_{layers}" not in params


def test_fixed_trial_gets_per_layer_params_for_existing_layers_only(tmp_path: Path) -> None:
    space = load_text(tmp_path, CNN_SPACE)
    given = {
        "conv_layers": 2,
        "filters_0": 16,
        "filters_1": 64,
        "filters_2": 32,  # given, but layer 2 does not exist
        "kernel_size_0": 3,
        "kernel_size_1": 5,
        "kernel_size_2": 3,
        "dropout_0": 0.1,
        "dropout_1": 0.2,
        "learning_rate": 1e-3,
    }
    params = space.suggest(FixedTrial(given))
    assert params == {
        "conv_layers": 2,
        "padding": "same",
        "dense_layers": 2,
        "learning_rate": 1e-3,
        "filters_0": 16,
        "filters_1": 64,
        "kernel_size_0": 3,
        "kernel_size_1": 5,
        "pooling_0": "max",
        "pooling_1": "none",
        "dropout_0": 0.1,
        "dropout_1": 0.2,
    }


def test_fixed_per_layer_list_maps_value_i_to_layer_i(tmp_path: Path) -> None:
    space = load_text(
        tmp_path,
        """
        model: mlp
        params:
          dense_layers: {type: int, low: 1, high: 3}
          dense_units: {type: fixed, value: [256, 128, 64], per_layer: dense_layers}
          dropout: {type: fixed, value: [0.5, 0.25, 0.0], per_layer: dense_layers}
        """,
    )
    for layers in (1, 2, 3):
        params = space.suggest(FixedTrial({"dense_layers": layers}))
        assert [params[f"dense_units_{i}"] for i in range(layers)] == [256, 128, 64][:layers]
        assert [params[f"dropout_{i}"] for i in range(layers)] == [0.5, 0.25, 0.0][:layers]
        assert f"dense_units_{layers}" not in params

    study = memory_study()
    study.enqueue_trial({"dense_layers": 2})
    trial = study.ask()
    space.suggest(trial)
    assert set(trial.distributions) == {"dense_layers"}  # fixed lists are not sampled


def test_unquoted_1e_minus_3_is_the_float(tmp_path: Path) -> None:
    """YAML 1.1 reads 1e-3 as a string; the loader reads it as the number every user means."""
    assert yaml.safe_load("x: 1e-3") == {"x": "1e-3"}  # why the loader has to care
    space = load_text(
        tmp_path,
        """
        model: mlp
        params:
          learning_rate: {type: fixed, value: 1e-3}
          dropout: {type: categorical, choices: [0, 5e-1]}
        """,
    )
    lr = space.spec("learning_rate")
    assert lr is not None and lr.value == 0.001 and isinstance(lr.value, float)
    dropout = space.spec("dropout")
    assert dropout is not None and dropout.choices == (0, 0.5)
    assert space.suggest(FixedTrial({"dropout": 0.5}))["learning_rate"] == 0.001


# (param line, expected distribution of the trial's `name`)
DISTRIBUTIONS = [
    pytest.param(
        "epochs: {type: int, low: 1, high: 9, step: 2}",
        "epochs",
        IntDistribution(1, 9, step=2),
        id="int-step",
    ),
    pytest.param(
        "batch_size: {type: int, low: 16, high: 256, log: true}",
        "batch_size",
        IntDistribution(16, 256, log=True),
        id="int-log",
    ),
    pytest.param(
        "epochs: {type: int, low: 1.0, high: 1e1}",
        "epochs",
        IntDistribution(1, 10),
        id="int-from-whole-floats",
    ),
    pytest.param(
        "learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}",
        "learning_rate",
        FloatDistribution(1e-4, 1e-2, log=True),
        id="float-log-unquoted-exponents",
    ),
    pytest.param(
        "dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}",
        "dropout",
        FloatDistribution(0.0, 0.5, step=0.1),
        id="float-step",
    ),
    pytest.param(
        "learning_rate: {type: float, low: 0.001, high: 0.1}",
        "learning_rate",
        FloatDistribution(0.001, 0.1),
        id="float-plain",
    ),
    pytest.param(
        "optimizer: {type: categorical, choices: [adam, sgd, nadam]}",
        "optimizer",
        CategoricalDistribution(("adam", "sgd", "nadam")),
        id="categorical-strings",
    ),
    pytest.param(
        "batch_norm: {type: categorical, choices: [false, true]}",
        "batch_norm",
        CategoricalDistribution((False, True)),
        id="categorical-bools",
    ),
    pytest.param(
        "batch_size: {type: categorical, choices: [32, 64, 128]}",
        "batch_size",
        CategoricalDistribution((32, 64, 128)),
        id="categorical-ints",
    ),
]


@pytest.mark.parametrize(("line", "name", "expected"), DISTRIBUTIONS)
def test_distribution_recorded_on_the_trial_matches_the_spec(
    tmp_path: Path, line: str, name: str, expected: BaseDistribution
) -> None:
    space = load_text(tmp_path, f"model: mlp\nparams:\n  {line}\n")
    trial = memory_study().ask()
    params = space.suggest(trial)
    assert trial.distributions == {name: expected}
    assert trial.params == {name: params[name]}


def test_fixed_param_is_returned_not_sampled(tmp_path: Path) -> None:
    space = load_text(tmp_path, "model: mlp\nparams:\n  optimizer: {type: fixed, value: sgd}\n")
    trial = memory_study().ask()
    assert space.suggest(trial) == {"optimizer": "sgd"}
    assert trial.distributions == {}


def test_per_layer_count_from_a_categorical(tmp_path: Path) -> None:
    space = load_text(
        tmp_path,
        """
        model: mlp
        params:
          dense_layers: {type: categorical, choices: [0, 2]}
          dense_units: {type: int, low: 8, high: 64, log: true, per_layer: dense_layers}
        """,
    )
    assert space.suggest(FixedTrial({"dense_layers": 0})) == {"dense_layers": 0}
    params = space.suggest(FixedTrial({"dense_layers": 2, "dense_units_0": 8, "dense_units_1": 64}))
    assert params == {"dense_layers": 2, "dense_units_0": 8, "dense_units_1": 64}


def test_grid_expands_per_layer_params_up_to_the_most_layers(tmp_path: Path) -> None:
    space = load_text(tmp_path, CNN_SPACE.replace(
        "learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}",
        "learning_rate: {type: categorical, choices: [1e-3, 1e-2]}",
    ))  # fmt: skip
    assert space.grid() == {
        "conv_layers": [1, 2, 3],
        "filters_0": [16, 32, 64],
        "filters_1": [16, 32, 64],
        "filters_2": [16, 32, 64],
        "kernel_size_0": [3, 5],
        "kernel_size_1": [3, 5],
        "kernel_size_2": [3, 5],
        "dropout_0": [0.0, 0.1, 0.2],
        "dropout_1": [0.0, 0.1, 0.2],
        "learning_rate": [0.001, 0.01],
    }  # fixed params (pooling, padding, dense_layers) are not in the grid


def test_grid_refuses_a_float_without_step(tmp_path: Path) -> None:
    space = load_text(tmp_path, CNN_SPACE)
    with pytest.raises(ValueError, match="'learning_rate' has no step"):
        space.grid()


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", SHIPPED_SPACES, ids=lambda p: p.stem)
def test_shipped_search_spaces_load_and_sample(path: Path) -> None:
    space = load_search_space(path)
    assert space.model in ("cnn", "mlp")
    study = memory_study(seed=1)
    for _ in range(5):
        trial = study.ask()
        params = space.suggest(trial)
        for spec in space.params:
            if spec.per_layer is not None:
                layers = [k for k in params if k.rsplit("_", 1)[0] == spec.name]
                # A space over families: the other family's layers are not sampled at all.
                assert len(layers) == params.get(spec.per_layer, 0)
        study.tell(trial, 0.5)


def test_shipped_search_spaces_exist() -> None:
    assert {p.stem for p in SHIPPED_SPACES} >= {"seed_cnn", "seed_mlp", "cnn", "quickstart"}


def test_seed_spaces_give_the_seed_notebooks_exactly() -> None:
    cnn = load_search_space(REPO / "search_spaces" / "seed_cnn.yaml")
    assert cnn.suggest(FixedTrial({})) == {
        "conv_layers": 2,
        "filters": 32,
        "kernel_size": 3,
        "pooling": "none",
        "padding": "valid",
        "batch_norm": False,
        "dense_layers": 1,
        "dense_units": 32,
        "dropout": 0.0,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "batch_size": 32,
        "epochs": 10,
    }
    mlp = load_search_space(REPO / "search_spaces" / "seed_mlp.yaml")
    params = mlp.suggest(FixedTrial({}))
    assert (params["dense_units_0"], params["dense_units_1"]) == (128, 64)
    assert (params["dropout_0"], params["dropout_1"]) == (0.5, 0.0)


# --------------------------------------------------------------------------- several families

FAMILIES = """
model: [cnn, resnet]
params:
  conv_layers: {type: int, low: 1, high: 2}
  filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}
  stages: {type: int, low: 1, high: 3}
  width: {type: categorical, choices: [8, 16]}
  dense_units: {type: categorical, choices: [16, 32]}
  tta: {type: categorical, choices: [none, flip]}
"""


def test_a_space_over_families_samples_the_family_first_and_only_its_params(
    tmp_path: Path,
) -> None:
    space = load_search_space(write_yaml(tmp_path, FAMILIES))
    assert space.families == ("cnn", "resnet")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(12):
        params = space.suggest(study.ask())
        family = space.model_of(params)
        seen.add(family)
        # Each configuration holds its family's params and the shared ones, nothing else.
        own = {"cnn": {"conv_layers", "filters_0"}, "resnet": {"stages", "width"}}[family]
        other = {"cnn": {"stages", "width"}, "resnet": {"conv_layers", "filters_0"}}[family]
        assert own <= set(params) and not other & set(params)
        assert {"model", "dense_units", "tta"} <= set(params)
    assert seen == {"cnn", "resnet"}
    assert space.grid()["model"] == ["cnn", "resnet"]


@pytest.mark.parametrize(
    ("model", "key", "fragment"),
    [
        ("[cnn, vit]", "model[1]", "expected one of ['cnn', 'mlp', 'resnet'], found 'vit'"),
        ("[cnn, cnn]", "model", "expected distinct families"),
        ("[mlp, resnet]", "params.conv_layers", "not a parameter of a mlp or resnet model"),
    ],
)
def test_a_bad_family_list_is_a_config_error(
    tmp_path: Path, model: str, key: str, fragment: str
) -> None:
    path = write_yaml(tmp_path, FAMILIES.replace("[cnn, resnet]", model))
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    assert info.value.key == key and fragment in info.value.message


def test_a_one_family_list_is_that_family(tmp_path: Path) -> None:
    text = FAMILIES.replace("[cnn, resnet]", "[cnn]").replace(
        "  stages: {type: int, low: 1, high: 3}\n  width: {type: categorical, choices: [8, 16]}\n",
        "",
    )
    space = load_search_space(write_yaml(tmp_path, text))
    assert space.model == "cnn" and space.families == ("cnn",) and not space.models
