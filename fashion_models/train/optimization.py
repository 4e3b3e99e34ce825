"""What a model is compiled with: the optimizer, its learning rate or schedule over the run's
own steps, and the loss (label smoothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from fashion_models.config.vocabulary import LR_SCHEDULES, OPTIMIZERS
from fashion_models.train.params import ArchitectureError, choice, param

SGD_MOMENTUM = 0.9
# one_cycle as in PyTorch's OneCycleLR: from lr/25 up to lr over the first 30% of the steps,
# then cosine down to lr/25e4.
ONE_CYCLE_WARMUP, ONE_CYCLE_START, ONE_CYCLE_END = 0.3, 1 / 25, 1 / 25e4


def optimizer(params: Mapping[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    name = choice(param(params, "optimizer"), "optimizer", OPTIMIZERS)
    lr = learning_rate(params, steps_per_epoch)
    decay = param(params, "weight_decay")
    # Keras applies weight_decay decoupled from the gradient (AdamW-style) for every optimizer.
    kwargs: dict[str, Any] = {} if decay is None else {"weight_decay": float(decay)}
    ema = float(param(params, "ema_momentum"))
    if not 0.0 <= ema < 1.0:
        raise ArchitectureError(f"ema_momentum must be in [0, 1), but got {ema!r}.")
    if ema > 0.0:
        kwargs.update(use_ema=True, ema_momentum=ema)
    if name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=SGD_MOMENTUM, **kwargs)
    else:
        classes = {
            "adam": keras.optimizers.Adam,
            "adamw": keras.optimizers.AdamW,
            "rmsprop": keras.optimizers.RMSprop,
            "nadam": keras.optimizers.Nadam,
        }
        optimizer = classes[name](learning_rate=lr, **kwargs)
    if optimizer.weight_decay:
        # Decay the weights, not batch norm's scale and shift or the biases.
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def learning_rate(
    params: Mapping[str, Any], steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate, or its schedule over this run's steps (epochs x steps_per_epoch)."""
    lr = float(param(params, "learning_rate"))
    schedule = choice(param(params, "lr_schedule"), "lr_schedule", LR_SCHEDULES)
    warmup_epochs = float(param(params, "warmup_epochs"))
    if warmup_epochs < 0:
        raise ArchitectureError(f"warmup_epochs must be >= 0, but got {warmup_epochs!r}.")
    if schedule == "constant" and warmup_epochs == 0:
        return lr
    total = max(1, int(param(params, "epochs")) * max(1, int(steps_per_epoch)))
    warmup = min(total - 1, round(warmup_epochs * steps_per_epoch))
    if schedule == "one_cycle":
        warmup = warmup or round(ONE_CYCLE_WARMUP * total)
        return keras.optimizers.schedules.CosineDecay(
            lr * ONE_CYCLE_START,
            decay_steps=max(1, total - warmup),
            alpha=ONE_CYCLE_END,
            warmup_target=lr,
            warmup_steps=warmup,
        )
    # constant (with warm-up): a cosine that decays to alpha = 1, i.e. not at all.
    alpha = 1.0 if schedule == "constant" else 0.0
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, total - warmup), alpha=alpha, warmup_target=lr, warmup_steps=warmup
    )


def loss(params: Mapping[str, Any]) -> Any:
    smoothing = float(param(params, "label_smoothing"))
    if not 0.0 <= smoothing < 1.0:
        raise ArchitectureError(f"label_smoothing must be in [0, 1), but got {smoothing!r}.")
    if smoothing == 0.0:
        return "sparse_categorical_crossentropy"
    return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
