"""The parameter vocabulary shared by search-space files and the model builder.

Kept free of Keras and Optuna so that validating a file stays instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODEL_TYPES = ("cnn", "mlp", "resnet")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam")
POOLING = ("none", "max", "avg")
PADDING = ("valid", "same")
HEADS = ("flatten", "global_avg")
CONV_LAYOUTS = ("plain", "blocks")  # train/model.py: how conv_layers are arranged
LR_SCHEDULES = ("constant", "cosine", "one_cycle")
TTA = ("none", "flip", "flip_shift")  # train/model.py TTA_VIEWS
FLIP_ORDERS = ("random", "alternating")  # train/pipeline.py: how augment_flip mirrors
PRECISIONS = ("float32", "bfloat16", "auto")  # auto: train/precision.py
_IMAGE_MODELS = ("cnn", "resnet")


@dataclass(frozen=True)
class ParamRule:
    """What values a parameter may take, and which models know it."""

    kind: str  # int | float | bool | choice
    models: tuple[str, ...] = MODEL_TYPES
    minimum: float | None = None  # inclusive
    below: float | None = None  # exclusive upper bound
    above: float | None = None  # exclusive lower bound
    choices: tuple[str, ...] = ()
    layers: str | None = None  # for per-layer params: the int param counting the layers

    def problem(self, value: Any) -> str | None:
        """None when `value` is allowed, else what was expected."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else "expected true or false"
        if self.kind == "choice":
            return None if value in self.choices else f"expected one of {list(self.choices)}"
        numeric = (int,) if self.kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return f"expected {'an integer' if self.kind == 'int' else 'a number'}"
        if self.minimum is not None and value < self.minimum:
            return f"expected a value >= {self.minimum:g}"
        if self.above is not None and value <= self.above:
            return f"expected a value > {self.above:g}"
        if self.below is not None and value >= self.below:
            return f"expected a value < {self.below:g}"
        return None


RULES: dict[str, ParamRule] = {
    "learning_rate": ParamRule("float", above=0.0),
    "optimizer": ParamRule("choice", choices=OPTIMIZERS),
    "batch_size": ParamRule("int", minimum=1),
    "epochs": ParamRule("int", minimum=1),
    "batch_norm": ParamRule("bool"),
    "dense_layers": ParamRule("int", minimum=0),
    "dense_units": ParamRule("int", minimum=1, layers="dense_layers"),
    "dropout": ParamRule("float", minimum=0.0, below=1.0, layers="dense_layers"),
    "conv_layers": ParamRule("int", models=("cnn",), minimum=1),
    "filters": ParamRule("int", models=("cnn",), minimum=1, layers="conv_layers"),
    "kernel_size": ParamRule("int", models=("cnn",), minimum=1, layers="conv_layers"),
    "pooling": ParamRule("choice", models=("cnn",), choices=POOLING, layers="conv_layers"),
    "padding": ParamRule("choice", models=("cnn",), choices=PADDING),
    "conv_layout": ParamRule("choice", models=("cnn",), choices=CONV_LAYOUTS),
    # Batch norm's moving statistics must settle within a short trial's few hundred steps.
    "bn_momentum": ParamRule("float", minimum=0.0, below=1.0),
    "conv_dropout": ParamRule(
        "float", models=("cnn",), minimum=0.0, below=1.0, layers="conv_layers"
    ),
    "head": ParamRule("choice", models=_IMAGE_MODELS, choices=HEADS),
    "whitening": ParamRule("int", models=_IMAGE_MODELS, minimum=0),
    "stages": ParamRule("int", models=("resnet",), minimum=1),
    "blocks_per_stage": ParamRule("int", models=("resnet",), minimum=1),
    "width": ParamRule("int", models=("resnet",), minimum=1),
    "weight_decay": ParamRule("float", minimum=0.0),
    "label_smoothing": ParamRule("float", minimum=0.0, below=1.0),
    "lr_schedule": ParamRule("choice", choices=LR_SCHEDULES),
    "warmup_epochs": ParamRule("float", minimum=0.0),
    "augment_shift": ParamRule("int", minimum=0),
    "augment_flip": ParamRule("bool"),
    "flip_order": ParamRule("choice", choices=FLIP_ORDERS),
    "augment_erasing": ParamRule("float", minimum=0.0, below=1.0),
    "tta": ParamRule("choice", choices=TTA),
    "ema_momentum": ParamRule("float", minimum=0.0, below=1.0),
    "precision": ParamRule("choice", choices=PRECISIONS),
}

# Defaults reproduce the team's seed CNN (Conv32-Conv32-Dense32, Adam 1e-3, batch 32, 10 epochs):
# every addition below defaults to "off", so the seed files train exactly as before.
DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "batch_size": 32,
    "epochs": 10,
    "batch_norm": False,
    "dense_layers": 1,
    "dense_units": 32,
    "dropout": 0.0,
    "conv_layers": 2,
    "filters": 32,
    "kernel_size": 3,
    "pooling": "none",
    "padding": "valid",
    # plain: the conv layers as the other params say (the seed: valid convs, no pooling);
    # blocks: VGG's way, pairs of same-padded convs, each pair then 2x2 max pooling, the
    # filters doubling per pair from `filters` (32, 64, 128, ...).
    "conv_layout": "plain",
    "bn_momentum": 0.9,  # PyTorch's default; Keras' 0.99 needs far more steps than a trial has
    "conv_dropout": 0.0,  # spatial dropout after each conv block
    "head": "flatten",  # flatten | global_avg, between the conv layers and the dense stack
    # A frozen patch-whitening first layer of this patch size (train/whitening.py); 0: none.
    "whitening": 0,
    "stages": 3,  # resnet: stages of basic blocks; each after the first halves the image
    "blocks_per_stage": 2,
    "width": 16,  # resnet: filters of the first stage, doubled per stage
    "weight_decay": None,  # decoupled; None keeps the optimizer's own (AdamW 0.004, others 0)
    "label_smoothing": 0.0,
    "lr_schedule": "constant",  # over the run's own epochs: constant | cosine | one_cycle
    "warmup_epochs": 0.0,  # linear warm-up (one_cycle: 0 means its usual first 30%)
    "augment_shift": 0,  # random translation by up to this many pixels, training only
    "augment_flip": False,  # random horizontal flip, training only
    # random: each image mirrored with probability 1/2 every epoch; alternating (airbench):
    # at random in the first epoch, then each image in every other epoch, the opposite of the
    # epoch before, so consecutive epochs see both views of every image.
    "flip_order": "random",
    "augment_erasing": 0.0,  # probability of erasing one random rectangle, training only
    "tta": "none",  # test-time augmentation in every prediction: none | flip | flip_shift
    # An exponential moving average of the weights (Keras' use_ema), validated each epoch
    # and kept at the end; 0 trains and keeps the weights themselves.
    "ema_momentum": 0.0,
    "precision": "float32",  # float32 | bfloat16 (Keras mixed precision, float32 output)
}


def params_for(model_type: str) -> list[str]:
    """The parameter names `model_type` understands, in vocabulary order."""
    return [name for name, rule in RULES.items() if model_type in rule.models]


def layer_value(params: Mapping[str, Any], name: str, index: int) -> Any:
    """`name_i` if sampled per layer, else the shared `name`, else the default."""
    return params.get(f"{name}_{index}", params.get(name, DEFAULTS[name]))
