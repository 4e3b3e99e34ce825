"""What training-time augmentation costs per epoch: the champion's network (bfloat16) through
`train.training.fit`, with and without shift 2 + flip + erasing 0.5, in alternating pairs.

    .venv/bin/python bench/augmentation_cost.py [--images 12000] [--epochs 3] [--pairs 3]

Each run builds the model afresh with the same seed; its first epoch (tracing) is left out and
the median of the other epochs' seconds is the run's figure.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras

from fashion_models.train.data import load_fashion_mnist, make_splits
from fashion_models.train.model import build
from fashion_models.train.pipeline import Augmentation, steps_per_epoch
from fashion_models.train.training import fit

NETWORK: dict[str, object] = {  # search_spaces/champion.yaml's network
    "conv_layers": 4, "filters_0": 32, "filters_1": 32, "filters_2": 64, "filters_3": 64,
    "padding": "same", "pooling_0": "none", "pooling_1": "max", "pooling_2": "none",
    "pooling_3": "max", "batch_norm": True, "dense_units": 256, "dropout": 0.3,
    "optimizer": "adamw", "learning_rate": 3e-3, "lr_schedule": "one_cycle", "batch_size": 128,
    "precision": "bfloat16",
}  # fmt: skip
AUGMENTED = Augmentation(shift=2, flip=True, erasing=0.5)


class EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def epoch_seconds(splits, augmentation: Augmentation, epochs: int) -> float:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    batch = int(NETWORK["batch_size"])
    params = {**NETWORK, "epochs": epochs}
    model = build("cnn", params, steps_per_epoch=steps_per_epoch(len(splits.x_train), batch))
    timer = EpochTimer()
    fit(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val,
        epochs=epochs, batch_size=batch, seed=0, augmentation=augmentation, callbacks=[timer],
    )  # fmt: skip
    return statistics.median(timer.seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    splits = make_splits(
        load_fashion_mnist(), validation_split=0.2, train_size=int(args.images / 0.8), seed=0
    )
    plain, augmented = [], []
    for pair in range(args.pairs):
        order = [(plain, Augmentation()), (augmented, AUGMENTED)]
        for results, augmentation in order if pair % 2 == 0 else reversed(order):
            results.append(epoch_seconds(splits, augmentation, args.epochs))
            print(f"pair {pair} augmentation={augmentation.active}: {results[-1]:.2f} s/epoch")
    a, b = statistics.median(plain), statistics.median(augmented)
    print(
        f"{len(splits.x_train)} images/epoch; median s/epoch without {a:.2f}, with {b:.2f}: "
        f"augmentation costs {100 * (b / a - 1):+.1f}% of step time"
    )


if __name__ == "__main__":
    main()
