"""Tests for fashion_models.train.training: real Keras on a few hundred real images."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import pytest

from fashion_models.train.data import FashionMNIST, Splits, make_splits
from fashion_models.train.model import build
from fashion_models.train.params import ArchitectureError
from fashion_models.train.pipeline import Augmentation, steps_per_epoch
from fashion_models.train.training import (
    EpochProgress,
    EpochReport,
    Evaluation,
    FitResult,
    NonFiniteLossError,
    evaluate,
    fit,
)

pytestmark = pytest.mark.slow

SEED_CNN = {"conv_layers": 2, "filters": 32, "kernel_size": 3, "dense_layers": 1}
TINY_MLP = {"dense_layers": 1, "dense_units": 16}


class Boom(Exception):
    """A caller's own exception, as a pruning callback would raise."""


class RaiseAtEpochEnd(keras.callbacks.Callback):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        raise self.error


class Recorder(keras.callbacks.Callback):
    """Records what a caller's callback gets to see."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_losses: list[float] = []
        self.epochs_ended: list[int] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batch_losses.append(float((logs or {})["loss"]))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs_ended.append(epoch)


class PoisonOutputAfterFirstEpoch(keras.callbacks.Callback):
    """Makes the output layer's weights infinite, so the loss turns NaN in epoch 1."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == 0:
            kernel = self.model.get_layer("output").kernel
            kernel.assign(np.full(kernel.shape, np.inf, dtype="float32"))


@pytest.fixture(autouse=True)
def _fresh_session() -> Iterator[None]:
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


def fit_splits(model: keras.Model, splits: Splits, **kwargs: Any) -> FitResult:
    kwargs.setdefault("epochs", 1)
    kwargs.setdefault("batch_size", 32)
    return fit(model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, **kwargs)


def test_one_epoch_fit_returns_keras_history(small_splits: Splits) -> None:
    result = fit_splits(build("mlp", TINY_MLP), small_splits)
    assert isinstance(result, FitResult)
    assert result.epochs_run == 1
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 1 for values in result.history.values())
    assert all(isinstance(v, float) for values in result.history.values() for v in values)


def test_seed_cnn_learns_well_above_chance(small_splits: Splits) -> None:
    result = fit_splits(build("cnn", SEED_CNN), small_splits, epochs=3)
    assert result.epochs_run == 3
    # Chance is 0.1; on 480 images this reached 0.67-0.77 after 3 epochs over seeds 0-9.
    assert result.history["val_accuracy"][-1] > 0.5
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_exploding_learning_rate_raises_non_finite_loss(small_splits: Splits) -> None:
    # Keras computes the loss from the softmax's logits, unclipped: NaN by the 3rd batch.
    model = build("cnn", {"filters": 8, "optimizer": "sgd", "learning_rate": 1e6})
    recorder = Recorder()
    with pytest.raises(
        NonFiniteLossError, match="training loss became (nan|inf) in epoch 0"
    ) as info:
        fit_splits(model, small_splits, epochs=3, callbacks=[recorder])
    assert info.value.epoch == 0
    assert len(recorder.batch_losses) == info.value.batch
    # The caller's callbacks never see the bad batch nor a NaN epoch.
    assert all(np.isfinite(recorder.batch_losses))
    assert recorder.epochs_ended == []


def test_inf_in_the_inputs_raises_non_finite_loss(small_splits: Splits) -> None:
    x_train = small_splits.x_train.copy()
    x_train[:] = np.inf
    # No hidden layer: a ReLU would turn the NaN sums into zeros and hide them.
    model = build("mlp", {"dense_layers": 0})
    with pytest.raises(NonFiniteLossError) as info:
        fit(
            model,
            x_train,
            small_splits.y_train,
            small_splits.x_val,
            small_splits.y_val,
            epochs=1,
            batch_size=32,
        )
    assert (info.value.epoch, info.value.batch) == (0, 0)
    assert not np.isfinite(info.value.loss)


def test_non_finite_loss_error_reports_the_epoch(small_splits: Splits) -> None:
    model = build("mlp", TINY_MLP)
    with pytest.raises(NonFiniteLossError, match="in epoch 1 ") as info:
        fit_splits(model, small_splits, epochs=3, callbacks=[PoisonOutputAfterFirstEpoch()])
    assert info.value.epoch == 1
    assert isinstance(info.value, RuntimeError)


def test_callback_exceptions_propagate_unchanged(small_splits: Splits) -> None:
    error = Boom("pruned at epoch 0")
    with pytest.raises(Boom) as info:
        fit_splits(
            build("mlp", TINY_MLP), small_splits, epochs=2, callbacks=[RaiseAtEpochEnd(error)]
        )
    assert info.value is error


def test_caller_callbacks_see_every_epoch(small_splits: Splits) -> None:
    recorder = Recorder()
    result = fit_splits(build("mlp", TINY_MLP), small_splits, epochs=2, callbacks=[recorder])
    assert recorder.epochs_ended == [0, 1]
    assert result.epochs_run == 2
    # 480 images in batches of 32.
    assert len(recorder.batch_losses) == 2 * 15


class LiveWeights(keras.callbacks.Callback):
    """The weights the last training step left, and what each epoch's callbacks see."""

    def __init__(self) -> None:
        super().__init__()
        self.after_last_step: list[np.ndarray] = []
        self.seen_at_epoch_end: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.after_last_step = [w.copy() for w in self.model.get_weights()]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seen_at_epoch_end.append([w.copy() for w in self.model.get_weights()])


def test_an_ema_of_the_weights_is_validated_seen_by_callbacks_and_kept(
    small_splits: Splits,
) -> None:
    model = build("mlp", {**TINY_MLP, "ema_momentum": 0.9})
    live = LiveWeights()
    result = fit_splits(model, small_splits, epochs=2, callbacks=[live])
    kept = model.get_weights()
    # The model keeps the average, not the weights the last step left...
    assert not all(np.allclose(a, b) for a, b in zip(kept, live.after_last_step, strict=True))
    # ...the last epoch's callbacks saw the same average, and its validation measured it.
    for a, b in zip(kept, live.seen_at_epoch_end[-1], strict=True):
        np.testing.assert_array_equal(a, b)
    validation = evaluate(model, small_splits.x_val, small_splits.y_val)
    assert result.history["val_accuracy"][-1] == pytest.approx(validation.accuracy)
    model.set_weights(live.after_last_step)
    assert evaluate(model, small_splits.x_val, small_splits.y_val).loss != pytest.approx(
        validation.loss
    )


def test_ema_momentum_out_of_range_is_refused() -> None:
    with pytest.raises(ArchitectureError, match=r"ema_momentum must be in \[0, 1\), but got 1.0"):
        build("mlp", {"ema_momentum": 1.0})
    assert not build("mlp", {}).optimizer.use_ema  # off unless asked for


def test_evaluate_returns_loss_accuracy_and_class_ids(small_splits: Splits) -> None:
    model = build("mlp", TINY_MLP)
    fit_splits(model, small_splits)
    result = evaluate(model, small_splits.x_test, small_splits.y_test, batch_size=64)
    assert isinstance(result, Evaluation)
    assert result.y_pred.shape == small_splits.y_test.shape
    assert np.issubdtype(result.y_pred.dtype, np.integer)
    assert set(np.unique(result.y_pred)) <= set(range(10))
    assert result.accuracy == pytest.approx(np.mean(result.y_pred == small_splits.y_test))
    keras_says = model.evaluate(
        small_splits.x_test, small_splits.y_test, verbose=0, return_dict=True
    )
    assert result.loss == pytest.approx(keras_says["loss"], rel=1e-4)
    assert result.accuracy == pytest.approx(keras_says["accuracy"])


def test_an_e_epoch_run_is_the_first_e_epochs_of_a_longer_run(small_splits: Splits) -> None:
    """The design's premise: with a constant learning rate and the same seed, 3 epochs are the
    first 3 of 10, weight for weight, per-epoch test evaluation included."""

    class Weights(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.by_epoch: dict[int, list[np.ndarray]] = {}

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.by_epoch[epoch] = [w.copy() for w in self.model.get_weights()]

    def train(epochs: int) -> tuple[Weights, FitResult]:
        keras.backend.clear_session()
        keras.utils.set_random_seed(7)
        model = build("cnn", {"conv_layers": 2, "filters": 8, "dense_units": 16})
        weights = Weights()
        s = small_splits
        report = EpochReport((s.x_test, s.y_test))
        result = fit(
            model, s.x_train, s.y_train, s.x_val, s.y_val,
            epochs=epochs, batch_size=32, callbacks=[report, weights],
        )  # fmt: skip
        return weights, result

    short, short_fit = train(3)
    long, long_fit = train(10)
    for mine, theirs in zip(short.by_epoch[2], long.by_epoch[2], strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for name in ("loss", "val_accuracy", "test_accuracy"):
        assert short_fit.history[name] == long_fit.history[name][:3]
    assert long_fit.history["train_seconds"][-1] == pytest.approx(
        sum(long_fit.history["epoch_seconds"])
    )
    # CPU seconds of the process beside wall seconds: training takes CPU, and the sum adds up.
    cpu = long_fit.history["epoch_cpu_seconds"]
    assert len(cpu) == 10 and min(cpu) > 0
    assert long_fit.history["train_cpu_seconds"][-1] == pytest.approx(sum(cpu))


# --------------------------------------------------------------------------- the new vocabulary

# Batch norm, spatial dropout, label smoothing, one-cycle, bfloat16, every augmentation.
EVERYTHING = {
    "conv_layers": 2,
    "filters": 16,
    "pooling": "max",
    "batch_norm": True,
    "conv_dropout": 0.1,
    "dense_units": 32,
    "learning_rate": 0.005,
    "lr_schedule": "one_cycle",
    "label_smoothing": 0.1,
    "precision": "bfloat16",
    "epochs": 3,
}
AUGMENTED = Augmentation(shift=2, flip=True, erasing=0.25)


def test_the_whole_new_vocabulary_trains_and_learns(small_splits: Splits) -> None:
    steps = steps_per_epoch(len(small_splits.x_train), 16)
    model = build("cnn", EVERYTHING, steps_per_epoch=steps)
    result = fit_splits(
        model, small_splits, epochs=3, batch_size=16, augmentation=AUGMENTED, one_hot=True
    )
    assert result.epochs_run == 3
    assert result.history["loss"][-1] < result.history["loss"][0]
    # Chance is 0.1; with one-hot targets Keras' "accuracy" is still the share of right answers.
    # Seeds 0-3 reached 0.60-0.67 validation and 0.66-0.69 test accuracy.
    assert result.history["val_accuracy"][-1] > 0.45
    test = evaluate(model, small_splits.x_test, small_splits.y_test)  # float32 in, sparse labels
    assert test.accuracy > 0.45
    # The schedule ran over this run's own 3 x 30 steps: from its peak down to about 0.
    assert int(model.optimizer.iterations) == 3 * steps
    assert float(model.optimizer.learning_rate) < 1e-6


def test_the_same_seed_trains_the_same_model_and_another_seed_another(
    small_splits: Splits,
) -> None:
    def train(seed: int) -> list[float]:
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)  # the same initial weights: only the data seed differs
        model = build("mlp", TINY_MLP)
        return fit_splits(model, small_splits, seed=seed, augmentation=AUGMENTED).history["loss"]

    first = train(4)
    assert train(4) == first
    assert train(5) != first


def test_batch_norm_scores_fairly_after_a_short_run(fashion_mnist: FashionMNIST) -> None:
    """Validation accuracy of a BN model after 64 steps is close to its training accuracy.
    With Keras' default momentum (0.99) the moving statistics are still half their initial
    values: validation accuracy 0.11-0.32 where training reached 0.74-0.76 (seeds 0-2)."""
    splits = make_splits(fashion_mnist, validation_split=0.2, train_size=2500, test_size=10)
    params = {"conv_layers": 2, "filters": 16, "pooling": "max", "batch_norm": True}
    model = build("cnn", {**params, "dense_units": 32})
    result = fit_splits(model, splits, epochs=2, batch_size=64)
    accuracy, val_accuracy = result.history["accuracy"][-1], result.history["val_accuracy"][-1]
    assert accuracy > 0.6
    assert val_accuracy > accuracy - 0.1


def test_epoch_progress_shows_each_epoch_of_a_long_run(small_splits: Splits) -> None:
    lines: list[str] = []
    progress = EpochProgress(lines.append, "trial 7", epochs=2, min_seconds=0)
    model = build("mlp", TINY_MLP)
    result = fit_splits(model, small_splits, epochs=2, callbacks=[EpochReport(), progress])
    assert len(lines) == 2
    for epoch, line in enumerate(lines, 1):
        found = re.fullmatch(r"trial 7 epoch (\d)/2 (\d+\.\d)s val_accuracy (0\.\d{4})", line)
        assert found, line
        assert int(found[1]) == epoch
        assert float(found[2]) == pytest.approx(
            result.history["epoch_seconds"][epoch - 1], abs=0.06
        )
        assert float(found[3]) == pytest.approx(result.history["val_accuracy"][epoch - 1], abs=1e-4)


def test_epoch_progress_keeps_a_short_run_quiet(small_splits: Splits) -> None:
    lines: list[str] = []
    progress = EpochProgress(lines.append, "final", epochs=2, min_seconds=3600)
    fit_splits(build("mlp", TINY_MLP), small_splits, epochs=2, callbacks=[EpochReport(), progress])
    assert lines == []


@pytest.mark.parametrize(("epochs", "shown"), [(3, 3), (2, 0)])
def test_epoch_progress_decides_from_the_first_epoch_times_the_epochs(
    epochs: int, shown: int
) -> None:
    """12 s for the first epoch: 3 epochs make the 30 s that earn a line each, 2 do not; a
    faster later epoch does not change the decision."""
    lines: list[str] = []
    progress = EpochProgress(lines.append, "final", epochs=epochs, min_seconds=30)
    for epoch, seconds in enumerate([12.0, 2.0, 2.0][:epochs]):
        progress.on_epoch_end(epoch, {"epoch_seconds": seconds, "val_accuracy": 0.5})
    assert len(lines) == shown
    if shown:
        assert lines[0] == "final epoch 1/3 12.0s val_accuracy 0.5000"
        assert lines[-1] == "final epoch 3/3 2.0s val_accuracy 0.5000"


def test_fit_without_validation_data_trains_and_names_its_accuracy(small_splits: Splits) -> None:
    """A retrain on train+validation has nothing to validate on: no validation pass, no val_*
    numbers, and the progress line says its accuracy is on its own training batches."""
    lines: list[str] = []
    progress = EpochProgress(lines.append, "final", epochs=2, min_seconds=0)
    model = build("mlp", TINY_MLP)
    result = fit(
        model, small_splits.x_train, small_splits.y_train, None, None,
        epochs=2, batch_size=64, callbacks=[EpochReport(), progress],
    )  # fmt: skip
    assert result.epochs_run == 2
    assert not any(name.startswith("val_") for name in result.history)
    assert len(lines) == 2
    for epoch, line in enumerate(lines, 1):
        found = re.fullmatch(
            rf"final epoch {epoch}/2 \d+\.\ds accuracy (0\.\d{{4}}) \(its training batches\)", line
        )
        assert found, line
        assert float(found[1]) == pytest.approx(result.history["accuracy"][epoch - 1], abs=1e-4)


def test_fit_with_an_alternating_flip_runs_its_epochs(small_splits: Splits) -> None:
    """The endless alternating-flip dataset is cut into epochs of the usual length."""
    model = build("cnn", {"conv_layers": 1, "filters": 8, "dense_units": 16})
    recorder = Recorder()
    alternating = Augmentation(flip=True, flip_order="alternating")
    result = fit_splits(model, small_splits, epochs=3, augmentation=alternating,
                        callbacks=[recorder])  # fmt: skip
    assert result.epochs_run == 3 and recorder.epochs_ended == [0, 1, 2]
    assert len(recorder.batch_losses) == 3 * steps_per_epoch(len(small_splits.x_train), 32)
    assert len(result.history["val_accuracy"]) == 3
