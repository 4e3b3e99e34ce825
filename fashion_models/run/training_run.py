"""One model trained and logged: build -> fit -> evaluate on the test set -> log the reports and
the model into the active MLflow run. Shared by a trial and by the final retrain."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from mlflow.data.numpy_dataset import NumpyDataset

from fashion_models.config.vocabulary import FLIP_ORDERS
from fashion_models.serving import costs
from fashion_models.track import datasets, reports
from fashion_models.track.trial_run import EpochMetrics, TrialRun
from fashion_models.train.data import Splits
from fashion_models.train.model import build, one_hot_labels, with_tta
from fashion_models.train.params import as_bool, choice, param
from fashion_models.train.pipeline import Augmentation, steps_per_epoch
from fashion_models.train.training import (
    EpochProgress,
    EpochReport,
    Evaluation,
    FitResult,
    evaluate,
    fit,
)


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
    validate: bool = True,
    progress: Callable[[str], None] | None = None,
    label: str = "",
    inputs: Sequence[tuple[str, NumpyDataset]] = (),
) -> TrainedModel:
    """Train `model_type` with `params` on `fit_on` (default: the training split), validating
    on the validation split after each epoch (unless not `validate`: a retrain whose training
    images include the validation split has nothing to validate on), then evaluate and log
    everything. `epoch_metrics` logs each epoch (the caller keeps it to read a pruned trial's
    curves); `callbacks` (a pruner) come after it, so the epoch that triggers pruning is still
    logged. Every epoch logs its seconds; `test_each_epoch` (a designed experiment's report)
    its test metrics. `progress` gets one line per epoch, prefixed by `label`, when the run is
    long enough. Test-time augmentation (`tta`) wraps the trained model for its evaluation and
    for the logged model, so every prediction made from it later is made the same way.
    `inputs` (context, MLflow dataset) are logged as the run's inputs: the data it saw."""
    datasets.log_inputs(inputs)
    keras.backend.clear_session()
    # clear_session resets Keras' globals; progress bars (MLflow's signature check calls
    # predict) would drown the per-trial lines.
    keras.config.disable_interactive_logging()
    keras.utils.set_random_seed(seed)
    x, y = fit_on if fit_on is not None else (splits.x_train, splits.y_train)
    epochs, batch_size = int(param(params, "epochs")), int(param(params, "batch_size"))
    model = build(model_type, params, steps_per_epoch=steps_per_epoch(len(x), batch_size))
    reports.log_model_summary(model)
    test = (splits.x_test, splits.y_test)
    recorder = epoch_metrics if epoch_metrics is not None else EpochMetrics()
    shown = [] if progress is None else [EpochProgress(progress, label, epochs)]
    validation = (splits.x_val, splits.y_val) if validate else (None, None)
    result = fit(
        model, x, y, *validation,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        augmentation=augmentation(params),
        one_hot=one_hot_labels(params),
        callbacks=[EpochReport(test if test_each_epoch else None), *shown, recorder, *callbacks],
    )  # fmt: skip
    model = with_tta(model, str(param(params, "tta")))
    final = evaluate(model, *test)
    run.log_final({"test_accuracy": final.accuracy, "test_loss": final.loss})
    reports.log_confusion_matrix(splits.y_test, final.y_pred)
    reports.log_test_reports(splits.x_test, splits.y_test, final.y_pred)
    reports.log_curves(recorder.history)
    model_uri = run.log_model(model, splits.x_val[:5])
    return TrainedModel(result, final, int(model.count_params()), model_uri)


def serving_costs(model_type: str, params: Mapping[str, Any]) -> costs.ServingCosts:
    """What the model `params` describe costs the shop to serve, measured on an untrained
    build of it (the costs depend on the architecture alone) with its test-time
    augmentation, as train_and_log would log it."""
    return costs.measure(servable_model(model_type, params))


def servable_model(model_type: str, params: Mapping[str, Any]) -> keras.Model:
    """An untrained build of the model `params` describe, as it would be served (its
    test-time augmentation included), in a fresh Keras session: what costs are measured on."""
    # Without Python's garbage collection (free_memory): that took 0.3-0.6 s a call on 2
    # loaded cores, more than the measurement; train_and_log and Optuna's gc_after_trial
    # collect after it.
    keras.backend.clear_session(free_memory=False)
    return with_tta(build(model_type, params), str(param(params, "tta")))


def augmentation(params: Mapping[str, Any]) -> Augmentation:
    """The training-time augmentation the params ask for."""
    return Augmentation(
        shift=int(param(params, "augment_shift")),
        flip=as_bool(param(params, "augment_flip"), "augment_flip"),
        flip_order=choice(param(params, "flip_order"), "flip_order", FLIP_ORDERS),
        erasing=float(param(params, "augment_erasing")),
    )
