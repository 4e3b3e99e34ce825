"""The `design:` section and `study.repeats`: each mistake is one ConfigError at its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.config.study_file import load_config
from fashion_models.config.yaml_source import ConfigError
from tests.helpers import NO_ENV, assert_config_error, write_yaml

SPACE = """
model: cnn
params:
  conv_layers: {type: categorical, choices: [2, 3]}
  filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}
  learning_rate: {type: float, low: 0.001, high: 0.01, log: true}
  epochs: {type: fixed, value: 4}
"""
STUDY = """
study: {{name: d, n_trials: 4, repeats: {repeats}}}
sampler: {sampler}
search_space: space.yaml
design:
  factor: {factor}
  reference: {reference}
"""


def load(tmp_path: Path, space: str = SPACE, **fields: object) -> Path:
    values = {
        "repeats": 2,
        "sampler": "grid",
        "factor": "conv_layers",
        "reference": "{conv_layers: 2, epochs: 4}",
        **fields,
    }
    write_yaml(tmp_path, space.replace("  learning_rate", "  # learning_rate"), "space.yaml")
    return write_yaml(tmp_path, STUDY.format(**values), "study.yaml")


def test_a_design_loads_with_its_levels_and_reference(tmp_path: Path) -> None:
    config = load_config(load(tmp_path), env=NO_ENV)
    design = config.design
    assert design is not None
    assert (design.factor, design.levels, design.epochs) == ("conv_layers", (2, 3), 4)
    assert (design.reference, design.reference_epochs, config.study.repeats) == (2, 4, 2)


@pytest.mark.parametrize(
    ("fields", "key", "line", "fragment"),
    [
        ({"sampler": "random"}, "study.repeats", 1, "expected sampler grid, found 'random'"),
        ({"repeats": 1}, "design", 4, "study.repeats >= 2"),
        ({"factor": "filters"}, "design.factor", 5, "whole-model int or categorical param"),
        ({"factor": "dropout"}, "design.factor", 5, "found 'dropout'"),
        ({"reference": "{conv_layers: 5, epochs: 4}"}, "design.reference.conv_layers", 6,
         "expected one of [2, 3], found 5"),
        ({"reference": "{conv_layers: 2, epochs: 9}"}, "design.reference.epochs", 6,
         "at most the runs' 4 epochs, found 9"),
        ({"reference": "{conv_layers: 2}"}, "design.reference", 6, "missing required key 'epochs'"),
    ],
)  # fmt: skip
def test_design_mistakes_name_their_key(
    tmp_path: Path, fields: dict[str, object], key: str, line: int, fragment: str
) -> None:
    path = load(tmp_path, **fields)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, key, line, fragment)


def test_a_design_needs_fixed_epochs(tmp_path: Path) -> None:
    space = SPACE.replace("epochs: {type: fixed, value: 4}", "epochs: {type: int, low: 1, high: 4}")
    path = load(tmp_path, space=space)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, "design.factor", 5, "`epochs` fixed")


def test_repeats_add_a_replicate_dimension_to_the_grid(tmp_path: Path) -> None:
    from fashion_models.config.components import build_sampler

    config = load_config(load(tmp_path, repeats=3), env=NO_ENV)
    sampler = build_sampler(config)
    grid = sampler._search_space  # noqa: SLF001 - Optuna 5.0 has no public reader of the grid
    assert grid["replicate"] == [0, 1, 2] and grid["conv_layers"] == [2, 3]


FAMILY_SPACE = SPACE.replace(
    "  conv_layers: {type: categorical, choices: [2, 3]}",
    "  conv_layout: {type: categorical, choices: [plain, blocks]}\n"
    "  conv_layers: {type: categorical, choices: [2, 3]}",
).replace("  filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}\n", "")


def test_a_two_family_design_loads_with_its_margin_and_time_axis(tmp_path: Path) -> None:
    study = STUDY.replace("  factor: {factor}", "  factor: {factor}\n  family: conv_layout")
    study += "  equivalence_margin: 0.005\n  time: wall\n"
    write_yaml(tmp_path, FAMILY_SPACE, "space.yaml")
    reference = "{conv_layout: plain, conv_layers: 2, epochs: 4}"
    path = write_yaml(
        tmp_path,
        study.format(repeats=2, sampler="grid", factor="conv_layers", reference=reference),
        "study.yaml",
    )
    design = load_config(path, env=NO_ENV).design
    assert design is not None
    assert (design.family, design.families, design.reference_family) == (
        "conv_layout",
        ("plain", "blocks"),
        "plain",
    )
    assert (design.margin, design.time, design.time_key) == (0.005, "wall", "train_seconds")


def test_a_one_family_design_defaults_to_cpu_time_and_a_third_of_a_point() -> None:
    from fashion_models.config.design import DesignSection

    design = DesignSection("conv_layers", (2, 3), 4, 2, 4)
    assert (design.families, design.margin, design.time_key) == (
        (None,),
        0.003,
        "train_cpu_seconds",
    )


@pytest.mark.parametrize(
    ("extra", "reference", "key", "fragment"),
    [
        ("  family: conv_layers\n", "{conv_layers: 2, epochs: 4}", "design.family",
         "expected another param than factor 'conv_layers'"),
        ("  family: conv_layout\n", "{conv_layers: 2, epochs: 4}", "design.reference",
         "missing required key 'conv_layout'"),
        ("  family: conv_layout\n", "{conv_layout: vgg, conv_layers: 2, epochs: 4}",
         "design.reference.conv_layout", "expected one of ['plain', 'blocks'], found 'vgg'"),
        ("  equivalence_margin: 3\n", "{conv_layers: 2, epochs: 4}", "design.equivalence_margin",
         "expected an accuracy difference in (0, 1)"),
        ("  time: gpu\n", "{conv_layers: 2, epochs: 4}", "design.time",
         "expected one of ['cpu', 'wall'], found 'gpu'"),
    ],
)  # fmt: skip
def test_family_margin_and_time_mistakes_name_their_key(
    tmp_path: Path, extra: str, reference: str, key: str, fragment: str
) -> None:
    write_yaml(tmp_path, FAMILY_SPACE, "space.yaml")
    text = STUDY.format(repeats=2, sampler="grid", factor="conv_layers", reference=reference)
    path = write_yaml(tmp_path, text + extra, "study.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert key in str(info.value) and fragment in str(info.value), str(info.value)
