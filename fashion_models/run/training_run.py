"""One model trained and logged: build -> fit -> evaluate on the test set -> log the reports and
the model into the active MLflow run. Shared by a trial and by the final retrain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from fashion_models.spec.vocabulary import DEFAULTS
from fashion_models.track import reports
from fashion_models.track.trial_run import EpochMetrics, TrialRun
from fashion_models.train.data import Splits
from fashion_models.train.model import build
from fashion_models.train.training import EpochReport, Evaluation, FitResult, evaluate, fit


@dataclass(frozen=True)
class TrainedModel:
    """What a training run left: its fit, its test evaluation, the logged model's URI."""

    fit: FitResult
    test: Evaluation
    param_count: int
    model_uri: str


def train_and_log(
    run: TrialRun,
    model_type: str,
    params: Mapping[str, Any],
    seed: int,
    splits: Splits,
    *,
    fit_on: tuple[np.ndarray, np.ndarray] | None = None,
    epoch_metrics: EpochMetrics | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    test_each_epoch: bool = False,
) -> TrainedModel:
    """Train `model_type` with `params` on `fit_on` (default: the training split), validating
    on the validation split after each epoch, then evaluate and log everything. `epoch_metrics`
    logs each epoch (the caller keeps it to read a pruned trial's curves); `callbacks` (a
    pruner) come after it, so the epoch that triggers pruning is still logged. Every epoch
    logs its seconds; `test_each_epoch` (a designed experiment's report) its test metrics."""
    keras.backend.clear_session()
    # clear_session resets Keras' globals; progress bars (MLflow's signature check calls
    # predict) would drown the per-trial lines.
    keras.config.disable_interactive_logging()
    keras.utils.set_random_seed(seed)
    model = build(model_type, params)
    reports.log_model_summary(model)
    x, y = fit_on if fit_on is not None else (splits.x_train, splits.y_train)
    test = (splits.x_test, splits.y_test)
    recorder = epoch_metrics if epoch_metrics is not None else EpochMetrics()
    result = fit(
        model, x, y, splits.x_val, splits.y_val,
        epochs=int(params.get("epochs", DEFAULTS["epochs"])),
        batch_size=int(params.get("batch_size", DEFAULTS["batch_size"])),
        callbacks=[EpochReport(test if test_each_epoch else None), recorder, *callbacks],
    )  # fmt: skip
    final = evaluate(model, *test)
    run.log_final({"test_accuracy": final.accuracy, "test_loss": final.loss})
    reports.log_confusion_matrix(splits.y_test, final.y_pred)
    reports.log_test_reports(splits.x_test, splits.y_test, final.y_pred)
    reports.log_curves(recorder.history)
    model_uri = run.log_model(model, splits.x_val[:5])
    return TrainedModel(result, final, int(model.count_params()), model_uri)
