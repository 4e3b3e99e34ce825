"""Storages, samplers and pruners from the config; creating, joining and running a study."""

from __future__ import annotations

import importlib.util
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from fashion_models.config import ComponentSection, StudyConfig, config_error

SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "grid": optuna.samplers.GridSampler,
}
PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
# Trials that count towards study.n_trials. Failed ones do not: they are retried instead.
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_CONSECUTIVE_FAILURES = 5


class FatalStudyError(Exception):
    """The study cannot go on (storage unreachable, too many failures in a row)."""


def build_sampler(config: StudyConfig) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded from study.seed; bad kwargs are ConfigErrors."""
    section = config.sampler
    if section.type == "gp" and importlib.util.find_spec("torch") is None:
        raise config_error(
            config, "sampler.type", "the gp sampler needs PyTorch: pip install 'fashion-models[gp]'"
        )
    for reserved, use in (("seed", "study.seed"), ("search_space", "the search-space file")):
        if reserved in section.kwargs:
            raise config_error(config, f"sampler.{reserved}", f"set by the service from {use}")
    kwargs = dict(section.kwargs)
    cls = SAMPLERS[section.type]
    if "seed" in inspect.signature(cls).parameters:
        kwargs["seed"] = config.study.seed
    if section.type == "grid":
        try:
            kwargs["search_space"] = config.search_space.grid()
        except ValueError as exc:
            raise config_error(config, "sampler.type", f"grid sampler: {exc}") from None
    return _construct(config, cls, kwargs, section)


def build_pruner(
    config: StudyConfig, section: ComponentSection | None = None
) -> optuna.pruners.BasePruner:
    """The configured pruner (a patient pruner wraps its own wrapped_pruner)."""
    section = section or config.pruner
    kwargs = dict(section.kwargs)
    inner = kwargs.get("wrapped_pruner")
    if isinstance(inner, ComponentSection):
        kwargs["wrapped_pruner"] = build_pruner(config, inner)
    return _construct(config, PRUNERS[section.type], kwargs, section)


def _construct(
    config: StudyConfig, cls: type, kwargs: dict[str, Any], section: ComponentSection
) -> Any:
    parameters = inspect.signature(cls).parameters
    accepted = [p for p in parameters if p not in ("self", "seed", "search_space")]
    for name, value in kwargs.items():
        if name not in parameters:
            raise config_error(
                config,
                f"{section.key}.{name}",
                f"not an argument of {cls.__name__} (accepted: {', '.join(accepted) or 'none'})",
            )
        problem = _type_problem(parameters[name].default, value)
        if problem:
            raise config_error(config, f"{section.key}.{name}", f"{problem}, found {value!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise config_error(
            config, section.key, f"{cls.__name__} rejected its arguments: {exc}"
        ) from None


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


def build_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage for SQLAlchemy URLs, a journal file for plain paths."""
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # Writers queue for the lock instead of failing at once with "database is locked".
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        return RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as exc:  # SQLAlchemy and driver errors vary by backend
        raise FatalStudyError(f"cannot open the Optuna storage {url}: {exc}") from exc


def open_study(config: StudyConfig) -> optuna.Study:
    """Create the study, or join it if it exists (a second run continues, never restarts)."""
    sampler, pruner = build_sampler(config), build_pruner(config)
    return optuna.create_study(
        storage=build_storage(config.storage),
        sampler=sampler,
        pruner=pruner,
        study_name=config.study.name,
        direction="maximize" if config.study.direction == "maximize" else "minimize",
        load_if_exists=True,
    )


def counted_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=COUNTED_STATES))


@dataclass
class ConsecutiveFailures:
    """Stops the study after `limit` failed trials in a row, rather than burning the budget."""

    limit: int = MAX_CONSECUTIVE_FAILURES
    count: int = 0
    tripped: bool = False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.count = self.count + 1 if trial.state == TrialState.FAIL else 0
        if self.count >= self.limit:
            self.tripped = True
            study.stop()


def progress_printer(config: StudyConfig, echo: Callable[[str], None]) -> Callable[..., None]:
    """One line per finished trial: state, value, best so far, duration."""

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        seconds = (trial.duration.total_seconds()) if trial.duration else 0.0
        value = f"{config.study.metric}={trial.value:.4f}" if trial.value is not None else ""
        if trial.state == TrialState.PRUNED:
            value = f"pruned at epoch {trial.last_step}"
        elif trial.state == TrialState.FAIL:
            value = str(trial.user_attrs.get("fail_reason", "failed"))
        try:
            best = f"best={study.best_value:.4f} (trial {study.best_trial.number})"
        except ValueError:
            best = "no completed trial yet"
        done = f"{counted_trials(study)}/{config.study.n_trials}"
        echo(f"[{done}] trial {trial.number} {trial.state.name} {value}  {best}  {seconds:.1f}s")

    return report


def run_trials(
    config: StudyConfig,
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    catch: tuple[type[Exception], ...],
    echo: Callable[[str], None] = print,
) -> None:
    """Run trials until the study holds n_trials complete or pruned ones (or the timeout)."""
    if counted_trials(study) >= config.study.n_trials:
        echo(
            f"the study already holds {config.study.n_trials} complete or pruned trials "
            "(study.n_trials): nothing to run; raise n_trials to run more"
        )
        return
    failures = ConsecutiveFailures()
    started = time.monotonic()
    study.optimize(
        objective,
        timeout=config.study.timeout,
        catch=catch,
        gc_after_trial=True,
        callbacks=[
            optuna.study.MaxTrialsCallback(config.study.n_trials, states=COUNTED_STATES),
            failures,
            progress_printer(config, echo),
        ],
    )
    if failures.tripped:
        raise FatalStudyError(
            f"stopped after {failures.limit} failed trials in a row "
            f"({time.monotonic() - started:.0f}s); see each trial's fail_reason"
        )


def counts_by_state(study: optuna.Study) -> Mapping[str, int]:
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out
