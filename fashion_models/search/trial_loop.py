"""The trial loop of one worker: claim a slot, run one trial, repeat until the study holds
exactly n_trials complete or pruned trials. Safe with any number of workers on one study."""

from __future__ import annotations

import enum
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from fashion_models.config.sections import StudyConfig
from fashion_models.errors import FatalError, StoreError
from fashion_models.search.claims import ClaimLock
from fashion_models.search.pareto_pruning import PRUNED_BY
from fashion_models.search.queries import (
    DUPLICATE_OF,
    INTERRUPTED,
    OVER_BUDGET,
    best_completed_trial,
    counted_trials,
    counts,
    grid_exhausted,
    metric_value,
    pruned_at,
)
from fashion_models.search.signals import raise_if_interrupted, stop_on_signals
from fashion_models.search.study import StudyHandle

RETRY_OF = "retry_of"  # user attr of a queued retry: the interrupted trial it trains again
POLL_SECONDS = 1.0  # how often a worker waiting for a free slot looks again
Objective = Callable[[optuna.Trial], float | tuple[float, ...]]


@dataclass
class ConsecutiveFailures:
    """Stops the worker after `limit` failed trials in a row, rather than burning the budget."""

    limit: int  # workers.max_consecutive_failures
    count: int = 0
    tripped: bool = False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.count = self.count + 1 if trial.state == TrialState.FAIL else 0
        self.tripped = self.count >= self.limit


@dataclass
class ConsecutiveOverBudget:
    """Stops the worker after `limit` draws over the budget in a row: a space with (next to)
    nothing within the budget ends in seconds with one line, not after hours of draws."""

    limit: int  # workers.max_consecutive_over_budget
    count: int = 0
    tripped: bool = False
    last_reason: str = ""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        reason = trial.user_attrs.get(OVER_BUDGET)
        self.count = self.count + 1 if reason else 0
        self.last_reason = reason or self.last_reason
        self.tripped = self.count >= self.limit


def progress_printer(config: StudyConfig, echo: Callable[[str], None]) -> Callable[..., None]:
    """One line per finished trial: state, value, best so far, duration."""

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        seconds = (trial.duration.total_seconds()) if trial.duration else 0.0
        metric = metric_value(trial)
        value = f"{config.study.metric}={metric:.4f}" if metric is not None else ""
        if trial.values is not None and len(trial.values) > 1:
            value += "".join(
                f" {name}={v:.4g}"
                for name, v in zip(config.study.cost_objectives, trial.values[1:], strict=True)
            )
        if DUPLICATE_OF in trial.user_attrs:
            value = f"skipped: the configuration of trial {trial.user_attrs[DUPLICATE_OF]}"
        elif OVER_BUDGET in trial.user_attrs:
            value = f"not trained, {trial.user_attrs[OVER_BUDGET]}"
        elif trial.state == TrialState.PRUNED:
            value = f"pruned at epoch {pruned_at(trial)}"
            if PRUNED_BY in trial.user_attrs:  # a multi-objective study's own pruning
                value += f" (behind trials as cheap, e.g. trial {trial.user_attrs[PRUNED_BY]})"
        elif trial.state == TrialState.FAIL:
            value = str(trial.user_attrs.get("fail_reason", "failed"))
        leader = best_completed_trial(study, config.registry.choose)
        best = "no completed trial yet"
        if leader is not None and metric_value(leader) is not None:
            best = f"best={metric_value(leader):.4f} (trial {leader.number})"
        done = f"{counted_trials(study)}/{config.study.n_trials}"
        echo(f"[{done}] trial {trial.number} {trial.state.name} {value}  {best}  {seconds:.1f}s")

    return report


def run_trials(
    config: StudyConfig,
    handle: StudyHandle,
    objective: Objective,
    catch: tuple[type[Exception], ...],
    echo: Callable[[str], None] = print,
) -> None:
    """Run trials until the study holds exactly n_trials complete or pruned ones (or the
    timeout). Safe with any number of workers on the same study: see `claims`. Trials that
    raise one of `catch` fail alone; failures.limit of them in a row stop the worker."""
    study, lock = handle.study, handle.lock
    if counted_trials(study) >= config.study.n_trials:
        echo(
            f"the study already holds {config.study.n_trials} complete or pruned trials "
            "(study.n_trials): nothing to run; raise n_trials to run more"
        )
        return
    for number in requeue_interrupted_grid_points(handle):
        echo(f"grid point of interrupted trial {number} queued again")
    failures = ConsecutiveFailures(config.workers.max_consecutive_failures)
    over_budget = ConsecutiveOverBudget(config.workers.max_consecutive_over_budget)
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [
        failures,
        over_budget,
        progress_printer(config, echo),
    ]
    timeout, started = config.study.timeout, time.monotonic()
    with stop_on_signals():
        while (
            not failures.tripped
            and not over_budget.tripped
            and (timeout is None or time.monotonic() - started < timeout)
        ):
            raise_if_interrupted()
            slot = _claim(handle, config.study.n_trials)
            if slot is Slot.DONE or grid_exhausted(study):
                if slot is Slot.RUN:
                    lock.release()
                break
            if slot is Slot.WAIT:
                time.sleep(POLL_SECONDS)
                continue
            try:
                study.optimize(
                    _releasing(objective, lock),
                    n_trials=1, catch=catch, gc_after_trial=True, callbacks=callbacks,
                )  # fmt: skip
            except Exception as exc:
                # Past the retry bound every storage call fails, Optuna's own bookkeeping of
                # the trial included, whatever it raises then: the one line says why.
                if handle.storage_lost is not None:
                    raise StoreError(handle.storage_lost) from exc
                raise
            finally:
                lock.release()
        raise_if_interrupted()  # a signal held back while the last trial was told
    if failures.tripped:
        raise FatalError(
            f"stopped after {failures.limit} failed trials in a row "
            f"({time.monotonic() - started:.0f}s); see each trial's fail_reason "
            "(workers.max_consecutive_failures sets the limit)"
        )
    if over_budget.tripped:
        raise FatalError(
            f"stopped after {over_budget.limit} draws in a row over the budget (the last "
            f"{over_budget.last_reason.removeprefix('over budget: ')}): the search space has "
            "little or nothing within it; raise the budget or narrow the space "
            "(workers.max_consecutive_over_budget sets the limit)"
        )


def _queue_grid_point(study: optuna.Study, trial: FrozenTrial) -> None:
    """A waiting trial on `trial`'s grid point. It carries the point's grid id, as the grid
    sampler's own trials do: a trial queued with `enqueue_trial` has none, and the sampler's
    after_trial then fails with KeyError 'grid_id' when one point is left."""
    keys = ("grid_id", "search_space")
    grid: dict[str, Any] = {k: trial.system_attrs[k] for k in keys if k in trial.system_attrs}
    if len(grid) < 2:  # not the grid's own trial: its params are all there is
        study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
        return
    waiting = optuna.trial.create_trial(
        state=TrialState.WAITING, system_attrs=grid, user_attrs={RETRY_OF: trial.number}
    )
    study.add_trial(waiting)


def requeue_interrupted_grid_points(handle: StudyHandle) -> list[int]:
    """Queue again each grid point whose only trials were interrupted (SIGINT, SIGTERM: the
    user or a scheduler stopped the worker), so a grid study run in several sittings trains
    every point. Optuna's grid counts a failed point as visited and never samples it again; a
    point that failed for a reason of its own is not retried. Returns the trials requeued."""
    study = handle.study
    if not isinstance(study.sampler, optuna.samplers.GridSampler):
        return []
    handle.lock.acquire()  # one worker decides: two would queue each point twice
    try:
        trials = study.get_trials(deepcopy=False)
        # A queued retry has no params until it runs: it names the trial it retries.
        retried = {t.user_attrs.get(RETRY_OF) for t in trials}
        taken = [t.params for t in trials if t.state != TrialState.FAIL]
        queued: list[int] = []
        for trial in trials:
            if (
                trial.state == TrialState.FAIL
                and trial.user_attrs.get(INTERRUPTED)
                and trial.params
                and trial.params not in taken
                and trial.number not in retried
            ):
                _queue_grid_point(study, trial)
                taken.append(trial.params)
                queued.append(trial.number)
        return queued
    finally:
        handle.lock.release()


class Slot(enum.Enum):
    """What a worker's claim found: RUN (the claim lock is held: the caller creates the trial
    and releases it), WAIT (running trials fill the study, one may still fail) or DONE."""

    RUN = "run"
    WAIT = "wait"
    DONE = "done"


def _claim(handle: StudyHandle, n_trials: int) -> Slot:
    """Whether this worker may run a trial now (see Slot).

    Running trials hold their slot: a worker waits while counted + running trials fill the
    study, because a running trial that fails frees its slot for a retry. Without heartbeats
    a dead worker's trial would hold its slot forever, so there a full study is done."""
    study, lock, heartbeats = handle.study, handle.lock, handle.heartbeats
    lock.acquire()
    try:
        if heartbeats:  # a dead worker's trial frees its slot (and is queued again)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        # One read for both counts: with two, a trial that ends between them is in neither
        # (RUNNING for the first, COMPLETE for the second) and the study overshoots n_trials.
        trials = study.get_trials(deepcopy=False)
        counted = sum(counts(t) for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
    except BaseException:
        lock.release()
        raise
    if counted < n_trials and counted + running < n_trials:
        return Slot.RUN
    lock.release()
    return Slot.WAIT if counted < n_trials and heartbeats else Slot.DONE


def _releasing(objective: Objective, lock: ClaimLock) -> Objective:
    """The objective, releasing the claim lock as soon as Optuna has created the trial."""

    def run(trial: optuna.Trial) -> float | tuple[float, ...]:
        lock.release()
        return objective(trial)

    return run
