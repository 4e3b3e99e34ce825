"""Tests for fashion_models.config.components: the samplers and pruners of a study file.

Samplers and pruners are built for real, and asked for a trial on an in-memory study; a bad
kwarg is a ConfigError naming (file, key path, line).
"""

from __future__ import annotations

import importlib.util
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from fashion_models.config.components import build_pruner, build_sampler
from fashion_models.config.study_file import StudyConfig, load_config
from fashion_models.config.yaml_source import ConfigError
from tests.helpers import (
    MINIMAL_STUDY,
    NO_ENV,
    SMALL_SPACE,
    assert_config_error,
    write_study_text,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
# QMCSampler and PatientPruner are experimental in Optuna; that is not what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def load(tmp_path: Path, extra: str, space: str = SMALL_SPACE) -> StudyConfig:
    """MINIMAL_STUDY plus `extra` (which starts on line 5), with `space` beside it."""
    return load_config(
        write_study_text(tmp_path, MINIMAL_STUDY + textwrap.dedent(extra), space), env=NO_ENV
    )


def first_params(sampler: optuna.samplers.BaseSampler, config: StudyConfig) -> dict[str, Any]:
    study = optuna.create_study(sampler=sampler)
    return config.search_space.suggest(study.ask())


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        # cmaes: see test_cmaes_sampler_proposes_values_inside_the_search_space
        ("qmc", optuna.samplers.QMCSampler),
        ("grid", optuna.samplers.GridSampler),
        ("nsgaii", optuna.samplers.NSGAIISampler),
    ],
)
def test_samplers_build_seeded_from_the_study(tmp_path: Path, kind: str, cls: type) -> None:
    config = load(tmp_path, f"sampler: {{type: {kind}}}\n")
    sampler = build_sampler(config)
    assert type(sampler) is cls
    params = first_params(sampler, config)
    assert params == first_params(build_sampler(config), config)  # seeded by study.seed


def test_an_experimental_argument_the_file_names_builds_without_optunas_warning(
    tmp_path: Path,
) -> None:
    # TPE's group is experimental in Optuna: the file asked for it, so every worker repeating
    # Optuna's warning would be noise. The argument still reaches the sampler.
    config = load(tmp_path, "sampler: {type: tpe, multivariate: true, group: true}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler = build_sampler(config)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._group is True


def test_gp_sampler_needs_pytorch(tmp_path: Path) -> None:
    config = load(tmp_path, "sampler:\n  type: gp\n")
    if importlib.util.find_spec("torch") is not None:
        assert isinstance(build_sampler(config), optuna.samplers.GPSampler)
        return
    with pytest.raises(ConfigError) as info:
        build_sampler(config)
    assert_config_error(info.value, config.path, "sampler.type", 6, "PyTorch")


def test_cmaes_sampler_proposes_values_inside_the_search_space(tmp_path: Path) -> None:
    # cmaes is a pinned dependency: the sampler builds, and CMA-ES itself proposes the numeric
    # params (conv_layers, dropout) from the second trial on; categorical ones fall back to
    # Optuna's independent sampler.
    config = load(tmp_path, "sampler: {type: cmaes}\n")
    sampler = build_sampler(config)
    assert isinstance(sampler, optuna.samplers.CmaEsSampler)
    grid = config.search_space.grid()
    study = optuna.create_study(sampler=sampler)
    proposed = []
    for _ in range(6):
        trial = study.ask()
        params = config.search_space.suggest(trial)
        assert all(params[name] in grid[name] for name in trial.params)
        proposed.append((params["conv_layers"], params["dropout"]))
        study.tell(trial, params["conv_layers"] + params["dropout"])
    # Optuna's CmaEsSampler marks each trial it proposed with its generation.
    assert all("cma:generation" in t.system_attrs for t in study.trials[1:])
    assert len(set(proposed)) > 1  # seeded by study.seed: the same values on every run


def test_grid_sampler_covers_the_search_space(tmp_path: Path) -> None:
    config = load(tmp_path, "sampler: {type: grid}\n")
    sampler = build_sampler(config)
    assert isinstance(sampler, optuna.samplers.GridSampler)
    grid = config.search_space.grid()
    study = optuna.create_study(sampler=sampler)
    for _ in range(4):
        trial = study.ask()
        params = config.search_space.suggest(trial)
        assert all(params[name] in grid[name] for name in trial.params)
        study.tell(trial, 0.5)


def test_grid_sampler_refuses_a_float_without_step(tmp_path: Path) -> None:
    space = SMALL_SPACE.replace(
        "dropout: {type: float, low: 0.0, high: 0.2, step: 0.1}",
        "dropout: {type: float, low: 0.0, high: 0.2}",
    )
    config = load(tmp_path, "sampler:\n  type: grid\n", space=space)
    with pytest.raises(ConfigError) as info:
        build_sampler(config)
    assert_config_error(info.value, config.path, "sampler.type", 6, "'dropout' has no step")


# (extra YAML, builder, key path, line, fragment)
BAD_COMPONENTS = [
    pytest.param(
        "sampler: {type: tpe, n_startup: 3}\n",
        build_sampler,
        "sampler.n_startup",
        5,
        "not an argument of TPESampler (accepted: consider_prior",
        id="tpe-unknown-kwarg",
    ),
    pytest.param(
        "sampler:\n  type: random\n  n_startup_trials: 3\n",
        build_sampler,
        "sampler.n_startup_trials",
        7,
        "not an argument of RandomSampler (accepted: none)",
        id="random-takes-no-kwargs",
    ),
    pytest.param(
        "sampler:\n  type: tpe\n  seed: 3\n",
        build_sampler,
        "sampler.seed",
        7,
        "set by the service from study.seed",
        id="seed-under-sampler",
    ),
    pytest.param(
        "sampler:\n  type: grid\n  search_space: {x: [1, 2]}\n",
        build_sampler,
        "sampler.search_space",
        7,
        "set by the service from the search-space file",
        id="search-space-under-grid-sampler",
    ),
    pytest.param(
        "sampler:\n  type: qmc\n  qmc_type: lattice\n",
        build_sampler,
        "sampler",
        5,
        "QMCSampler rejected its arguments",
        id="qmc-bad-type",
    ),
    pytest.param(
        "pruner:\n  type: median\n  n_warmup: 1\n",
        build_pruner,
        "pruner.n_warmup",
        7,
        "not an argument of MedianPruner (accepted: n_startup_trials, n_warmup_steps",
        id="median-unknown-kwarg",
    ),
    pytest.param(
        "pruner: {type: percentile, percentile: 150}\n",
        build_pruner,
        "pruner",
        5,
        "PercentilePruner rejected its arguments",
        id="percentile-150",
    ),
    pytest.param(
        "pruner:\n  type: percentile\n",
        build_pruner,
        "pruner",
        5,
        "PercentilePruner rejected its arguments",
        id="percentile-missing",
    ),
    pytest.param(
        "pruner:\n  type: successive_halving\n  reduction_factor: 1\n",
        build_pruner,
        "pruner",
        5,
        "reduction_factor >= 2",
        id="successive-halving-factor-1",
    ),
    pytest.param(
        "pruner: {type: threshold}\n",
        build_pruner,
        "pruner",
        5,
        "Either lower or upper must be specified",
        id="threshold-without-bounds",
    ),
    pytest.param(
        "pruner: {type: none, n_startup_trials: 1}\n",
        build_pruner,
        "pruner.n_startup_trials",
        5,
        "not an argument of NopPruner",
        id="none-takes-no-kwargs",
    ),
    pytest.param(
        "pruner:\n  type: patient\n",
        build_pruner,
        "pruner",
        5,
        "missing 1 required positional argument: 'patience'",
        id="patient-without-patience",
    ),
    pytest.param(
        "pruner:\n  type: patient\n  patience: 2\n  wrapped_pruner:\n    type: median\n"
        "    n_startup: 1\n",
        build_pruner,
        "pruner.wrapped_pruner.n_startup",
        10,
        "not an argument of MedianPruner",
        id="patient-wrapped-unknown-kwarg",
    ),
    pytest.param(
        "pruner:\n  type: median\n  wrapped_pruner: {type: median}\n",
        build_pruner,
        "pruner.wrapped_pruner",
        7,
        "not an argument of MedianPruner",
        id="wrapped-pruner-on-median",
    ),
]


@pytest.mark.parametrize(("extra", "builder", "key", "line", "fragment"), BAD_COMPONENTS)
def test_bad_sampler_or_pruner_kwargs_are_config_errors(
    tmp_path: Path,
    extra: str,
    builder: Callable[[StudyConfig], object],
    key: str,
    line: int,
    fragment: str,
) -> None:
    config = load(tmp_path, extra)  # the file loads: kwargs are checked against Optuna later
    with pytest.raises(ConfigError) as info:
        builder(config)
    assert_config_error(info.value, config.path, key, line, fragment)


def test_patient_pruner_wraps_its_wrapped_pruner(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        pruner:
          type: patient
          patience: 2
          wrapped_pruner:
            type: median
            n_startup_trials: 4
        """,
    )
    pruner = build_pruner(config)
    assert isinstance(pruner, optuna.pruners.PatientPruner)
    assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)
    assert pruner._wrapped_pruner._n_startup_trials == 4
    assert pruner._patience == 2


def test_patient_pruner_wraps_a_median_pruner_by_default(tmp_path: Path) -> None:
    pruner = build_pruner(load(tmp_path, "pruner: {type: patient, patience: 1}\n"))
    assert isinstance(pruner, optuna.pruners.PatientPruner)
    assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)


@pytest.mark.parametrize(
    ("extra", "cls"),
    [
        ("pruner: {type: none}\n", optuna.pruners.NopPruner),
        ("pruner: {type: percentile, percentile: 25.0}\n", optuna.pruners.PercentilePruner),
        ("pruner: {type: successive_halving}\n", optuna.pruners.SuccessiveHalvingPruner),
        (
            "pruner: {type: hyperband, min_resource: 1, max_resource: 10, reduction_factor: 3}\n",
            optuna.pruners.HyperbandPruner,
        ),
        ("pruner: {type: threshold, lower: 0.2}\n", optuna.pruners.ThresholdPruner),
        ("sampler: random\npruner: median\n", optuna.pruners.MedianPruner),
    ],
    ids=["none", "percentile", "successive_halving", "hyperband", "threshold", "short-form"],
)
def test_every_pruner_builds(tmp_path: Path, extra: str, cls: type) -> None:
    assert type(build_pruner(load(tmp_path, extra))) is cls


def test_wrongly_typed_sampler_kwarg_is_a_config_error(tmp_path: Path) -> None:
    config = load(tmp_path, "sampler: {type: tpe, n_startup_trials: ten}\n")
    with pytest.raises(ConfigError) as info:
        build_sampler(config)
    assert info.value.key.startswith("sampler")
