"""The final retrain: after the search, the best configuration is trained again (on train +
validation by default), evaluated once on the test set and logged as its own run under the
study run. Its model is the one registered.

Done once per (best trial, epochs, data): the result is kept in the study's user attrs, so a
second worker, or a second invocation of a finished study, reuses it instead of retraining.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import optuna

from fashion_models.config.sections import FinalSection, StudyConfig
from fashion_models.errors import FatalError
from fashion_models.run.session import StudySession, study_splits
from fashion_models.run.training_run import serving_costs, train_and_log
from fashion_models.search.queries import best_completed_trial
from fashion_models.serving.costs import budget_reason
from fashion_models.track.datasets import TEST, TRAINING, VALIDATION, dataset
from fashion_models.track.locks import lock_name, store_lock
from fashion_models.track.registry import Candidate
from fashion_models.track.runs import live_run
from fashion_models.train.precision import resolved_params

FINAL_ATTR = "final_retrain"


def final_candidate(session: StudySession, echo: Callable[[str], None] = print) -> Candidate | None:
    """The final model of the study (trained now, or found from an earlier call)."""
    study, config, experiment_id = session.study, session.config, session.experiment_id
    best, final = best_completed_trial(study, config.registry.choose), config.final
    if best is None or final is None:
        return None
    # The key keeps its old text (`on=`, the former name of final.data), so a retrain recorded
    # before the rename is still found instead of being trained again.
    key = f"trial={best.number} epochs={final.epochs} on={final.data}"
    if final.train_size is not None:
        key += f" images={final.train_size}"
    # A retrain can take longer than the default stale limit: only a lock older than the
    # longest wait counts as left by a killed process.
    name = lock_name("final", experiment_id, study.study_name)
    with store_lock(name, timeout=3600, stale_after=3600):
        done = _reusable(study.user_attrs.get(FINAL_ATTR), key)
        if done is None:
            echo(f"final retrain of trial {best.number} ({final.data}) ...")
            try:
                done = _retrain(session, best, echo)
            except Exception as exc:  # noqa: BLE001 - the trials are kept; say why it stopped
                raise FatalError(
                    f"final retrain of trial {best.number} failed: {type(exc).__name__}: {exc}; "
                    "the trials are kept, and the next run retries the retrain"
                ) from exc
            done = {"key": key, "trial": best.number, "data": final.data, **done}
            study.set_user_attr(FINAL_ATTR, done)
    echo(f"final retrain: test accuracy = {done['test_accuracy']:.4f} (run {done['run_id']})")
    return _candidate(study, best, done, config.budget)


def recorded_final(study: optuna.Study, config: StudyConfig) -> Candidate | None:
    """The final retrain recorded for the study's current best trial, if any."""
    best = best_completed_trial(study, config.registry.choose)
    done = study.user_attrs.get(FINAL_ATTR)
    if best is None or not isinstance(done, dict) or done.get("trial") != best.number:
        return None
    return _candidate(study, best, done, config.budget)


def _candidate(
    study: optuna.Study,
    best: optuna.trial.FrozenTrial,
    done: dict[str, Any],
    budget: Mapping[str, float],
) -> Candidate:
    # The retrained model measured again: a version over the budget never takes the alias.
    over = budget_reason(done.get("costs", {}), budget) if budget else ""
    return Candidate(
        study=study.study_name,
        trial=best.number,
        run_id=str(done["run_id"]),
        model_uri=str(done["model_uri"]),
        test_accuracy=float(done["test_accuracy"]),
        tags={
            "final_retrain": "true",
            "final_data": str(done.get("data", done.get("on"))),  # "on": recorded before
            "objective_value": f"{cast(list[float], best.values)[0]:.6f}",
        },
        over_budget=over,
    )


def _reusable(done: Any, key: str) -> dict[str, Any] | None:
    if not isinstance(done, dict) or done.get("key") != key:
        return None
    # Another tracking store, or the run was deleted or purged: train again.
    return done if live_run(done.get("run_id")) else None


def final_params(config: StudyConfig, best: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Every param of the best trial, fixed ones included, with the final epochs (and the
    precision this machine trains in, where the file says `auto`)."""
    params = resolved_params(config.search_space.suggest(optuna.trial.FixedTrial(best.params)))
    if config.final is not None and config.final.epochs is not None:
        params["epochs"] = config.final.epochs
    return params


def _retrain(
    session: StudySession, best: optuna.trial.FrozenTrial, echo: Callable[[str], None]
) -> dict[str, Any]:
    config = session.config
    final = config.final or FinalSection()
    if final.train_size is not None:
        splits = study_splits(config, final.train_size)
    else:  # the trials' splits (the parent of --workers loads them now)
        splits = session.splits or study_splits(config)
    params, seed = final_params(config, best), config.study.seed + best.number
    fit_on = (splits.x_train, splits.y_train)
    if final.data == "train+validation":
        fit_on = (
            np.concatenate([splits.x_train, splits.x_val]),
            np.concatenate([splits.y_train, splits.y_val]),
        )
    extra = {"final_data": final.data}
    with session.training_run(best.number, seed, params, kind="final", extra_params=extra) as run:
        # With train+validation there is nothing left to validate on: no validation pass (its
        # numbers were on images seen in training, and it cost every epoch its time).
        inputs = [(TRAINING, dataset(*fit_on, TRAINING))]
        if final.data == "train":  # validated on images it did not train on
            inputs.append((VALIDATION, dataset(splits.x_val, splits.y_val, VALIDATION)))
        inputs.append((TEST, dataset(splits.x_test, splits.y_test, TEST)))
        trained = train_and_log(
            run, config.search_space.model_of(params), params, seed, splits,
            fit_on=fit_on, validate=final.data == "train", progress=echo, label="final",
            inputs=inputs,
        )  # fmt: skip
        run.log_final({"train_images": float(len(fit_on[1]))})
        # Measured again on the model that will be registered, not taken from the trial.
        costs = serving_costs(config.search_space.model_of(params), params).as_dict()
        run.log_final(costs)
        run.mark("COMPLETE")
    return {
        "run_id": run.run_id,
        "model_uri": trained.model_uri,
        "test_accuracy": trained.test.accuracy,
        "costs": costs,
    }
