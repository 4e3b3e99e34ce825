"""The final retrain: after the search, the best configuration is trained again (on train +
validation by default), evaluated once on the test set and logged as its own run under the
study run. Its model is the one registered.

Done once per (best trial, epochs, data): the result is kept in the study's user attrs, so a
second worker, or a second invocation of a finished study, reuses it instead of retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import mlflow
import numpy as np
import optuna
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from fashion_models import architecture, reports
from fashion_models.config import FinalSection, StudyConfig
from fashion_models.data import CLASS_NAMES, Splits
from fashion_models.lineage import lineage_tags
from fashion_models.locks import lock_name, store_lock
from fashion_models.model import build
from fashion_models.registry import Candidate, best_completed_trial
from fashion_models.storages import FatalStudyError
from fashion_models.study_run import PARENT_TAG, ensure_study_run
from fashion_models.tracking import EpochMetrics, TrialRun
from fashion_models.training import evaluate, fit

FINAL_ATTR = "final_retrain"


def final_candidate(
    study: optuna.Study,
    config: StudyConfig,
    splits: Splits,
    experiment_id: str,
    echo: Callable[[str], None] = print,
) -> Candidate | None:
    """The final model of the study (trained now, or found from an earlier call)."""
    best, final = best_completed_trial(study), config.final
    if best is None or final is None:
        return None
    key = f"trial={best.number} epochs={final.epochs} on={final.on}"
    # A retrain can take longer than the default stale limit: only a lock older than the
    # longest wait counts as left by a killed process.
    name = lock_name("final", experiment_id, study.study_name)
    with store_lock(name, timeout=3600, stale_after=3600):
        done = _reusable(study.user_attrs.get(FINAL_ATTR), key)
        if done is None:
            echo(f"final retrain of trial {best.number} ({final.on}) ...")
            try:
                done = _retrain(study, config, best, splits, experiment_id)
            except Exception as exc:  # noqa: BLE001 - the trials are kept; say why it stopped
                raise FatalStudyError(
                    f"final retrain of trial {best.number} failed: {type(exc).__name__}: {exc}; "
                    "the trials are kept, and the next run retries the retrain"
                ) from exc
            done = {"key": key, "trial": best.number, "on": final.on, **done}
            study.set_user_attr(FINAL_ATTR, done)
    echo(f"final retrain: test accuracy = {done['test_accuracy']:.4f} (run {done['run_id']})")
    return _candidate(study, best, done)


def recorded_final(study: optuna.Study) -> Candidate | None:
    """The final retrain recorded for the study's current best trial, if any."""
    best, done = best_completed_trial(study), study.user_attrs.get(FINAL_ATTR)
    if best is None or not isinstance(done, dict) or done.get("trial") != best.number:
        return None
    return _candidate(study, best, done)


def _candidate(
    study: optuna.Study, best: optuna.trial.FrozenTrial, done: dict[str, Any]
) -> Candidate:
    return Candidate(
        study=study.study_name,
        trial=best.number,
        run_id=str(done["run_id"]),
        model_uri=str(done["model_uri"]),
        test_accuracy=float(done["test_accuracy"]),
        tags={
            "final_retrain": "true",
            "final_on": str(done.get("on")),
            "objective_value": f"{best.value:.6f}",
        },
    )


def _reusable(done: Any, key: str) -> dict[str, Any] | None:
    if not isinstance(done, dict) or done.get("key") != key:
        return None
    try:
        run = MlflowClient().get_run(str(done["run_id"]))
    except MlflowException:
        return None  # another tracking store, or the run was purged: train again
    return done if run.info.lifecycle_stage == "active" else None


def final_params(config: StudyConfig, best: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Every param of the best trial, fixed ones included, with the final epochs."""
    params = config.search_space.suggest(optuna.trial.FixedTrial(best.params))
    if config.final is not None and config.final.epochs is not None:
        params["epochs"] = config.final.epochs
    return params


def _retrain(
    study: optuna.Study,
    config: StudyConfig,
    best: optuna.trial.FrozenTrial,
    splits: Splits,
    experiment_id: str,
) -> dict[str, Any]:
    final = config.final or FinalSection()
    params, seed = final_params(config, best), config.study.seed + best.number
    tags = {
        "seed": str(seed),
        "optuna.kind": "final",
        PARENT_TAG: ensure_study_run(study, experiment_id, config),
        **lineage_tags(),
    }
    with TrialRun(experiment_id, study.study_name, best.number, tags) as run:
        mlflow.set_tag("mlflow.runName", f"{study.study_name}-final")
        run.log_params({"model": config.search_space.model, "final_on": final.on, **params})
        model_uri, accuracy = _train_and_log(run, config, params, seed, splits, final.on)
        run.mark("COMPLETE")
    return {"run_id": run.run_id, "model_uri": model_uri, "test_accuracy": accuracy}


def _train_and_log(
    run: TrialRun,
    config: StudyConfig,
    params: dict[str, Any],
    seed: int,
    s: Splits,
    on: str,
) -> tuple[str, float]:
    keras.backend.clear_session()
    keras.config.disable_interactive_logging()
    keras.utils.set_random_seed(seed)
    model = build(config.search_space.model, params)
    reports.log_model_summary(model)
    x, y = s.x_train, s.y_train
    if on == "train+validation":
        x, y = np.concatenate([s.x_train, s.x_val]), np.concatenate([s.y_train, s.y_val])
    recorder = reports.HistoryRecorder()
    # With train+validation the val_* numbers are on images seen in training: logged for
    # completeness, never used to choose anything.
    fit(
        model, x, y, s.x_val, s.y_val,
        epochs=int(params.get("epochs", architecture.DEFAULTS["epochs"])),
        batch_size=int(params.get("batch_size", architecture.DEFAULTS["batch_size"])),
        callbacks=[EpochMetrics(), recorder],
    )  # fmt: skip
    test = evaluate(model, s.x_test, s.y_test)
    run.log_final({"test_accuracy": test.accuracy, "test_loss": test.loss})
    mlflow.log_metric("train_images", float(len(y)))
    run.log_confusion_matrix(s.y_test, test.y_pred, CLASS_NAMES)
    reports.log_test_reports(s.x_test, s.y_test, test.y_pred)
    reports.log_curves(recorder.history)
    return run.log_model(model, s.x_val[:5]), test.accuracy
