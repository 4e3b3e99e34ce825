"""When a worker dies or is stopped: stale trials retried, their runs closed, clean signals.

A worker killed with SIGKILL stops sending its trial's heartbeats; once the grace period has
passed, the next worker that claims a trial (or the next start) fails that trial, queues a
retry with the same params, and closes the trial's MLflow run as FAILED with the reason.
SIGINT and SIGTERM raise `Interrupted` inside the running trial instead: Optuna marks it
FAIL, its run is closed, and the command exits 130 or 143.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import mlflow
import optuna
from mlflow.tracking import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

STALE_REASON = "worker lost: no heartbeat for {grace}s (killed or cut off); retried as a new trial"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: stop this worker once the running trial is closed."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class _DropInterrupted(logging.Filter):
    """Optuna logs a failed trial with its traceback; an interrupted one needs none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Interrupted))


logging.getLogger("optuna.study._optimize").addFilter(_DropInterrupted())


class _Signals:
    """The signal received and whether its Interrupted has reached our code."""

    pending: int | None = None
    delivered: bool = False


def _resend() -> None:
    # Python swallows an exception raised in a finalizer (e.g. a handler that ran during
    # garbage collection): send the signal again until an Interrupted has landed.
    if _Signals.pending is not None and not _Signals.delivered:
        main = threading.main_thread().ident
        if main is not None:
            signal.pthread_kill(main, _Signals.pending)


def delivered() -> None:
    """An Interrupted was caught: stop re-sending the signal."""
    _Signals.delivered = True


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the main thread (again, until one lands)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if _Signals.pending is None:
            _Signals.pending = signum
        timer = threading.Timer(1.0, _resend)
        timer.daemon = True
        timer.start()
        raise Interrupted(_Signals.pending)

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.exc_value, Interrupted):  # ours is re-sent: no traceback
            sys.__unraisablehook__(info)

    _Signals.pending, _Signals.delivered = None, False
    hook, sys.unraisablehook = sys.unraisablehook, unraisable
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    except KeyboardInterrupt:
        delivered()
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sys.unraisablehook = hook


class StaleTrialCallback:
    """Optuna's retry of a heartbeat-stale trial, plus closing that trial's MLflow run."""

    def __init__(self, experiment: str, grace_period: int):
        self.experiment = experiment
        self.reason = STALE_REASON.format(grace=grace_period)
        with warnings.catch_warnings():  # experimental in Optuna: a warning per worker start
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = RetryHeartbeatStaleTrialCallback()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.retry(study, trial)
        close_trial_runs(study.study_name, self.experiment, trial.number, self.reason)


def close_trial_runs(study_name: str, experiment: str, number: int, reason: str) -> None:
    """Mark the trial's open MLflow runs FAILED with `reason`. A trial killed before it
    started its run gets one now, so that every trial keeps exactly one run."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return
    runs = list(
        client.search_runs(
            [found.experiment_id],
            filter_string=(
                f"tags.`optuna.study` = '{study_name}' and tags.`optuna.trial` = '{number}'"
            ),
        )
    )
    if not runs:
        run = client.create_run(
            found.experiment_id,
            run_name=f"{study_name}-trial-{number}",
            tags={"optuna.study": study_name, "optuna.trial": str(number)},
        )
        runs = [run]
    for run in runs:
        if run.info.status in ("FINISHED", "KILLED"):
            continue
        if "fail_reason" not in run.data.tags:
            client.set_tag(run.info.run_id, "fail_reason", reason)
        if run.info.status != "FAILED":
            client.set_tag(run.info.run_id, "optuna.state", "FAIL")
            client.set_terminated(
                run.info.run_id, status="FAILED", end_time=int(time.time() * 1000)
            )


def record_interruption(trial: optuna.Trial, exc: KeyboardInterrupt, experiment: str) -> None:
    """Store why an interrupted trial failed, on the trial and on its run (closed by now)."""
    delivered()
    reason = str(exc) or "interrupted by SIGINT"
    try:
        if mlflow.active_run() is not None:  # the signal came before TrialRun took over
            mlflow.end_run(status="FAILED")
        trial.set_user_attr("fail_reason", reason)
        close_trial_runs(trial.study.study_name, experiment, trial.number, reason)
    except Exception:  # best effort: the interruption itself must still stop the worker
        pass
