"""Storages, samplers and pruners from the config; creating, joining and running a study."""

from __future__ import annotations

import importlib.util
import inspect
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from fashion_models.claims import ClaimLock
from fashion_models.config import ComponentSection, StudyConfig, config_error
from fashion_models.recovery import record_interruption, stop_on_signals
from fashion_models.storages import (
    FatalStudyError,
    build_storage,
    join_study,
    study_lock,
    worker_seed,
)

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
POLL_SECONDS = 1.0  # how often a worker waiting for a free slot looks again


def build_sampler(config: StudyConfig, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded from study.seed (or `seed`); bad kwargs are ConfigErrors."""
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
        kwargs["seed"] = config.study.seed if seed is None else seed
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


def open_study(config: StudyConfig, join: bool = True) -> optuna.Study:
    """Create the study, or join it if it exists (a second run continues, never restarts).

    Each worker that joins gets the next worker index; its sampler is seeded from study.seed
    and that index, so workers explore different points and the first one keeps study.seed.
    `join=False` only creates or opens it (the parent of --workers runs no trials)."""
    storage = build_storage(config.storage, config)
    study = optuna.create_study(
        storage=storage,
        sampler=build_sampler(config),
        pruner=build_pruner(config),
        study_name=config.study.name,
        direction="maximize" if config.study.direction == "maximize" else "minimize",
        load_if_exists=True,
    )
    if not join:
        return study
    index = join_study(study, study_lock(config, study))
    study.sampler = build_sampler(config, seed=worker_seed(config.study.seed, index))
    return study


def counted_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=COUNTED_STATES))


@dataclass
class ConsecutiveFailures:
    """Stops the worker after `limit` failed trials in a row, rather than burning the budget."""

    limit: int  # workers.max_consecutive_failures
    count: int = 0
    tripped: bool = False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.count = self.count + 1 if trial.state == TrialState.FAIL else 0
        self.tripped = self.count >= self.limit


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
    """Run trials until the study holds exactly n_trials complete or pruned ones (or the
    timeout). Safe with any number of workers on the same study: see `claims`."""
    if counted_trials(study) >= config.study.n_trials:
        echo(
            f"the study already holds {config.study.n_trials} complete or pruned trials "
            "(study.n_trials): nothing to run; raise n_trials to run more"
        )
        return
    lock = study_lock(config, study)
    failures = ConsecutiveFailures(config.workers.max_consecutive_failures)
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [
        failures,
        progress_printer(config, echo),
    ]
    timeout, started = config.study.timeout, time.monotonic()
    with stop_on_signals():
        while not failures.tripped and (timeout is None or time.monotonic() - started < timeout):
            slot = _claim(study, lock, config.study.n_trials)
            if slot == "done" or _grid_exhausted(study):
                if slot == "run":
                    lock.release()
                break
            if slot == "wait":
                time.sleep(POLL_SECONDS)
                continue
            try:
                study.optimize(
                    _releasing(objective, lock, config.tracking.experiment),
                    n_trials=1, catch=catch, gc_after_trial=True, callbacks=callbacks,
                )  # fmt: skip
            finally:
                lock.release()
    if failures.tripped:
        raise FatalStudyError(
            f"stopped after {failures.limit} failed trials in a row "
            f"({time.monotonic() - started:.0f}s); see each trial's fail_reason "
            "(workers.max_consecutive_failures sets the limit)"
        )


def _grid_exhausted(study: optuna.Study) -> bool:
    """A grid study ends with its grid, even short of n_trials (as GridSampler's own stop())."""
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _claim(study: optuna.Study, lock: ClaimLock, n_trials: int) -> str:
    """ "run" (the lock is held: the caller creates the trial), "wait" or "done".

    Running trials hold their slot: a worker waits while counted + running trials fill the
    study, because a running trial that fails frees its slot for a retry. Without heartbeats
    a dead worker's trial would hold its slot forever, so there a full study is done."""
    lock.acquire()
    try:
        heartbeats = is_heartbeat_enabled(study._storage)
        if heartbeats:  # a dead worker's trial frees its slot (and is queued again)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        counted = counted_trials(study)
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    except BaseException:
        lock.release()
        raise
    if counted < n_trials and counted + running < n_trials:
        return "run"
    lock.release()
    return "wait" if counted < n_trials and heartbeats else "done"


def _releasing(
    objective: Callable[[optuna.Trial], float], lock: ClaimLock, experiment: str
) -> Callable[[optuna.Trial], float]:
    """The objective, releasing the claim lock as soon as Optuna has created the trial."""

    def run(trial: optuna.Trial) -> float:
        lock.release()
        try:
            return objective(trial)
        except KeyboardInterrupt as exc:
            record_interruption(trial, exc, experiment)
            raise

    return run


def counts_by_state(study: optuna.Study) -> Mapping[str, int]:
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out
