"""Samplers and pruners: the one list of names, and building them from a study's config.

Optuna is imported only when a component is built, so loading a study file stays fast; the
names map to the classes of `optuna.samplers` and `optuna.pruners`. A new sampler or pruner is
one line here (and its kwargs are checked against its signature automatically).
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from typing import TYPE_CHECKING, Any

from fashion_models.config.sections import ComponentSection, ParetoPruning, StudyConfig

if TYPE_CHECKING:
    import optuna

SAMPLERS: dict[str, str] = {  # name in the study file -> class in optuna.samplers
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
    "grid": "GridSampler",
    "nsgaii": "NSGAIISampler",  # a genetic algorithm, for multi-objective studies
}
REPLICATE = "replicate"  # the grid dimension of study.repeats: which seed of a grid point
PRUNERS: dict[str, str] = {  # name in the study file -> class in optuna.pruners
    "none": "NopPruner",
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "patient": "PatientPruner",
    "threshold": "ThresholdPruner",
}
PARETO = "pareto"  # the multi-objective studies' own pruner (config.sections.ParetoPruning)
MULTI_OBJECTIVE_PRUNERS = (PARETO, "none")


def check(config: StudyConfig) -> None:
    """Raise the ConfigError that building the sampler or pruner would raise: the commands
    call this right after loading, so a bad kwarg never reaches a store."""
    build_sampler(config)
    build_pruner(config)


def build_sampler(config: StudyConfig, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded from study.seed (or `seed`, a worker's own; never for the
    grid sampler); bad kwargs are ConfigErrors."""
    import optuna

    section = config.sampler
    if section.type == "gp" and importlib.util.find_spec("torch") is None:
        raise config.error(
            "sampler.type", "the gp sampler needs PyTorch: pip install 'fashion-models[gp]'"
        )
    for reserved, use in (("seed", "study.seed"), ("search_space", "the search-space file")):
        if reserved in section.kwargs:
            raise config.error(f"sampler.{reserved}", f"set by the service from {use}")
    kwargs = dict(section.kwargs)
    cls = getattr(optuna.samplers, SAMPLERS[section.type])
    if "seed" in inspect.signature(cls).parameters:
        kwargs["seed"] = config.study.seed if seed is None else seed
    if section.type == "grid":
        # The grid sampler shuffles its grid with its seed, and a trial's grid_id indexes that
        # shuffle: every worker must shuffle alike, or they run each other's points twice.
        kwargs["seed"] = config.study.seed
    if section.type == "grid":
        try:
            kwargs["search_space"] = config.search_space.grid()
        except ValueError as exc:
            raise config.error("sampler.type", f"grid sampler: {exc}") from None
        if config.study.repeats > 1:  # each grid point once per seed (see run/objective.py)
            kwargs["search_space"][REPLICATE] = list(range(config.study.repeats))
    sampler: optuna.samplers.BaseSampler = _construct(config, cls, kwargs, section)
    return sampler


def build_pruner(
    config: StudyConfig, section: ComponentSection | None = None
) -> optuna.pruners.BasePruner:
    """The configured pruner (a patient pruner wraps its own wrapped_pruner)."""
    import optuna

    section = section or config.pruner
    if section.type == PARETO:  # trials prune themselves (run/pareto_callback.py)
        pareto_pruning(config)
        return optuna.pruners.NopPruner()
    kwargs = dict(section.kwargs)
    inner = kwargs.get("wrapped_pruner")
    if isinstance(inner, ComponentSection):
        kwargs["wrapped_pruner"] = build_pruner(config, inner)
    pruner: optuna.pruners.BasePruner = _construct(
        config, getattr(optuna.pruners, PRUNERS[section.type]), kwargs, section
    )
    return pruner


def pareto_pruning(config: StudyConfig) -> ParetoPruning | None:
    """The settings of `pruner: pareto` (None for any other pruner); bad kwargs are
    ConfigErrors."""
    if config.pruner.type != PARETO:
        return None
    settings: ParetoPruning = _construct(
        config, ParetoPruning, dict(config.pruner.kwargs), config.pruner
    )
    for name, least in (("n_startup_trials", 0), ("n_warmup_steps", 0), ("n_min_trials", 1)):
        if getattr(settings, name) < least:
            raise config.error(
                f"pruner.{name}", f"expected an integer >= {least}, found {getattr(settings, name)}"
            )
    return settings


def _construct(
    config: StudyConfig, cls: type, kwargs: dict[str, Any], section: ComponentSection
) -> Any:
    import optuna

    parameters = inspect.signature(cls).parameters
    accepted = [p for p in parameters if p not in ("self", "seed", "search_space")]
    for name, value in kwargs.items():
        if name not in parameters:
            raise config.error(
                f"{section.key}.{name}",
                f"not an argument of {cls.__name__} (accepted: {', '.join(accepted) or 'none'})",
            )
        problem = _type_problem(parameters[name].default, value)
        if problem:
            raise config.error(f"{section.key}.{name}", f"{problem}, found {value!r}")
    try:
        # The file asked for the argument by name: Optuna's warning that it is experimental
        # (e.g. TPE's group) would repeat in every worker's output and say nothing new.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise config.error(section.key, f"{cls.__name__} rejected its arguments: {exc}") from None


def _type_problem(default: Any, value: Any) -> str | None:
    """Optuna checks many kwargs only when it first uses them, mid-study; check the type
    against the default's now (bool, int and float defaults; others are left to Optuna)."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
        return "expected an integer"
    if isinstance(default, float) and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        return "expected a number"
    return None
