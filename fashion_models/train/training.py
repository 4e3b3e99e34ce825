"""Fit and evaluate Keras classifiers; knows nothing of Optuna or MLflow.

The caller's callbacks (a pruning callback, a metric logger) ride along in ``fit`` and
may raise; their exceptions propagate unchanged so the caller can tell a pruned trial
from a failed one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from fashion_models.errors import TrialError
from fashion_models.train.pipeline import (
    NO_AUGMENTATION,
    Augmentation,
    evaluation_dataset,
    steps_per_epoch,
    training_dataset,
)
from fashion_models.train.whitening import adapt_whitening


class NonFiniteLossError(TrialError, RuntimeError):
    """Training produced a NaN/inf loss."""

    def __init__(self, loss: float, epoch: int, batch: int) -> None:
        super().__init__(
            f"training loss became {loss} in epoch {epoch} (0-based), batch {batch}; "
            "the learning rate is likely too high for this network."
        )
        self.loss = loss
        self.epoch = epoch
        self.batch = batch


class HistoryRecorder(keras.callbacks.Callback):
    """Per-epoch logs kept in memory, so a pruned trial (whose fit raised) still has curves."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.last_epoch: int | None = None  # 0-based, None before the first epoch ends

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.last_epoch = epoch
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))


class EpochReport(keras.callbacks.Callback):
    """Adds to each epoch's logs `epoch_seconds` (that epoch of fit: its training batches and
    the validation pass), `train_seconds` (the sum so far), the same two in CPU seconds of
    this process (`epoch_cpu_seconds`, `train_cpu_seconds`: all its threads, so a test suite
    running beside it slows the wall clock but hardly moves them) and, given test data,
    `test_loss` and `test_accuracy`, so that the callbacks after it (metric loggers, History)
    record them beside Keras' own."""

    def __init__(self, test: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        super().__init__()
        self.test = test
        self._started = self._cpu_started = 0.0
        self._total = self._cpu_total = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started, self._cpu_started = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        seconds = time.perf_counter() - self._started  # before the test pass
        cpu = time.process_time() - self._cpu_started
        self._total += seconds
        self._cpu_total += cpu
        logs["epoch_seconds"], logs["train_seconds"] = seconds, self._total
        logs["epoch_cpu_seconds"], logs["train_cpu_seconds"] = cpu, self._cpu_total
        if self.test is not None:
            # Inference only: no dropout, no random numbers drawn, so the rest of the run
            # trains exactly as it would without this evaluation.
            result = evaluate(self.model, *self.test)
            logs["test_loss"], logs["test_accuracy"] = result.loss, result.accuracy


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch (number, seconds, validation accuracy) for runs long enough to
    want it: once the first epoch shows the whole run will take `min_seconds` or more.
    Placed after EpochReport, whose `epoch_seconds` it reads."""

    def __init__(
        self, echo: Callable[[str], None], label: str, epochs: int, min_seconds: float = 30.0
    ) -> None:
        super().__init__()
        self.echo, self.label, self.epochs, self.min_seconds = echo, label, epochs, min_seconds
        self._show: bool | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        seconds = float(logs.get("epoch_seconds", 0.0))
        if self._show is None:
            self._show = seconds * self.epochs >= self.min_seconds
        if self._show:
            # Without validation data (a retrain on train+validation) the only accuracy there
            # is was measured on its own training batches, and is named so.
            name = "val_accuracy" if "val_accuracy" in logs else "accuracy"
            accuracy = logs.get(name)
            shown = "-" if accuracy is None else f"{float(accuracy):.4f}"
            if name == "accuracy":
                shown += " (its training batches)"
            self.echo(f"{self.label} epoch {epoch + 1}/{self.epochs} {seconds:.1f}s {name} {shown}")


@dataclass(frozen=True)
class FitResult:
    """Per-epoch metrics as Keras names them (loss, accuracy, val_loss, val_accuracy)."""

    history: dict[str, list[float]]
    epochs_run: int


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy over a data set, with the predicted class id of each sample."""

    loss: float
    accuracy: float
    y_pred: np.ndarray


class _RaiseOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN that raises at once instead of stopping gracefully.

    Raising in the batch where the loss turns bad skips the validation pass over a broken
    model, and the caller's callbacks never see a NaN epoch (a pruner would otherwise
    report the trial as pruned rather than failed).
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(float(loss), self._epoch, batch)


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    augmentation: Augmentation = NO_AUGMENTATION,
    one_hot: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> FitResult:
    """Train with validation data after each epoch (none when `x_val` is None), through the
    tf.data pipeline (seeded shuffle, `augmentation` on training batches only; `one_hot`
    targets for label smoothing).

    Raises ``NonFiniteLossError`` as soon as the training loss turns NaN/inf; exceptions
    raised by ``callbacks`` propagate unchanged.
    """
    train = training_dataset(
        x_train, y_train, batch_size=batch_size, seed=seed, augmentation=augmentation,
        one_hot=one_hot,
    )  # fmt: skip
    # The guard goes first so it fires before any caller callback sees the bad batch. With an
    # EMA of the weights, the average is what validation, the epoch's callbacks (a test pass,
    # a pruner) and the end of fit see; training steps update the weights themselves.
    ema = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if model.optimizer.use_ema else []
    validation = None
    if x_val is not None and y_val is not None:
        validation = evaluation_dataset(x_val, y_val, one_hot=one_hot)
    adapt_whitening(model, x_train)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        # an endless dataset (alternating flip) is cut into epochs here
        steps_per_epoch=(
            steps_per_epoch(len(x_train), batch_size) if augmentation.alternating else None
        ),
        shuffle=False,  # the dataset shuffles itself, seeded
        callbacks=[_RaiseOnNonFiniteLoss(), *ema, *callbacks],
        verbose=verbose,
    )
    metrics = {name: [float(v) for v in values] for name, values in history.history.items()}
    return FitResult(history=metrics, epochs_run=len(metrics.get("loss", [])))


def evaluate(
    model: keras.Model, x: np.ndarray, y: np.ndarray, *, batch_size: int = 512
) -> Evaluation:
    """Loss, accuracy and predicted class ids from a single prediction pass."""
    # One predict pass instead of model.evaluate + model.predict: half the work on the
    # test set, and the same loss the model was compiled with.
    probabilities = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    labels = np.asarray(y).reshape(-1)
    y_pred = probabilities.argmax(axis=-1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    loss = float(keras.ops.convert_to_numpy(loss_fn(labels, probabilities)))
    accuracy = float(np.mean(y_pred == labels)) if len(labels) else math.nan
    return Evaluation(loss=loss, accuracy=accuracy, y_pred=y_pred)
