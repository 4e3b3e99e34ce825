"""When a worker dies or is stopped, its trial's MLflow run is closed with the reason.

A worker killed with SIGKILL stops sending its trial's heartbeats; once the grace period has
passed, the next worker that claims a trial (or the next start) fails that trial, queues a
retry with the same params (Optuna's callback), and closes the trial's MLflow run as FAILED.
SIGINT and SIGTERM raise `Interrupted` (search/signals.py) inside the running trial instead;
the objective records the reason here before the worker exits.
"""

from __future__ import annotations

import warnings

import mlflow
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from fashion_models.search.queries import INTERRUPTED
from fashion_models.search.signals import delivered
from fashion_models.track.trial_run import close_trial_runs

STALE_REASON = "worker lost: no heartbeat for {grace}s (killed or cut off); retried as a new trial"


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


def record_interruption(trial: optuna.Trial, exc: KeyboardInterrupt, experiment: str) -> None:
    """Store why an interrupted trial failed, on the trial and on its run (closed by now)."""
    delivered()
    reason = str(exc) or "interrupted by SIGINT"
    try:
        if mlflow.active_run() is not None:  # the signal came before TrialRun took over
            mlflow.end_run(status="FAILED")
        trial.set_user_attr("fail_reason", reason)
        trial.set_user_attr(INTERRUPTED, True)  # a grid point to train again (trial_loop)
        close_trial_runs(trial.study.study_name, experiment, trial.number, reason)
    except Exception:  # best effort: the interruption itself must still stop the worker
        pass
