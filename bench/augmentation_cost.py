"""What training-time augmentation costs per epoch: the champion's network (bfloat16) through
`train.training.fit`, with and without shift 2 + flip + erasing 0.5, in alternating pairs.

    .venv/bin/python bench/augmentation_cost.py [--images 12000] [--epochs 3] [--pairs 3]

Each run builds the model afresh with the same seed; its first epoch (tracing) is left out and
the median of the other epochs' seconds is the run's figure.
"""

from __future__ import annotations

import argparse
import statistics

import keras
from training_throughput import BN_CNN  # bench/ is the script's directory

from fashion_models.train.data import load_fashion_mnist, make_splits
from fashion_models.train.model import build
from fashion_models.train.pipeline import Augmentation, steps_per_epoch
from fashion_models.train.training import EpochReport, fit

NETWORK = {**BN_CNN, "precision": "bfloat16"}  # the champion's network, as it trains
AUGMENTED = Augmentation(shift=2, flip=True, erasing=0.5)


def epoch_seconds(splits, augmentation: Augmentation, epochs: int) -> float:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    batch = int(NETWORK["batch_size"])
    params = {**NETWORK, "epochs": epochs}
    model = build("cnn", params, steps_per_epoch=steps_per_epoch(len(splits.x_train), batch))
    result = fit(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val,
        epochs=epochs, batch_size=batch, seed=0, augmentation=augmentation,
        callbacks=[EpochReport()],
    )  # fmt: skip
    return statistics.median(result.history["epoch_seconds"][1:])


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
