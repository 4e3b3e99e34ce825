"""Do `ema_momentum` and `tta: flip_shift` earn their place? Paired runs on the champion's
network at the champion study's trial fidelity.

    .venv/bin/python bench/vocabulary_ab.py [--seeds 5] [--epochs 6] [--ema 0.99] [--out FILE]

For each seed, the champion's network (`search_spaces/champion.yaml` at its middle values:
dense 256, dropout 0.3, conv dropout 0.05, AdamW 3e-3 with weight decay 5e-3 under one-cycle,
label smoothing 0.1, erasing 0.25, bfloat16 where native) trains twice on the same 16,000 /
4,000 split with the same seed: with and without an EMA of the weights. Each trained model is
then evaluated on the 4,000 validation images with each test-time augmentation (none, flip,
flip_shift): the TTA comparison is exactly paired (the same weights), the EMA one paired by
seed. The test set is not touched.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np

from fashion_models.train.data import load_fashion_mnist, make_splits
from fashion_models.train.model import build, with_tta
from fashion_models.train.pipeline import Augmentation, steps_per_epoch
from fashion_models.train.training import evaluate, fit

CHAMPION = {
    "conv_layers": 4, "filters": [32, 32, 64, 64], "kernel_size": 3, "padding": "same",
    "pooling": ["none", "max", "none", "max"], "batch_norm": True, "bn_momentum": 0.9,
    "conv_dropout": 0.05, "head": "flatten", "dense_layers": 1, "dense_units": 256,
    "dropout": 0.3, "optimizer": "adamw", "learning_rate": 3e-3, "weight_decay": 5e-3,
    "label_smoothing": 0.1, "lr_schedule": "one_cycle", "batch_size": 128,
    "precision": "auto",
}  # fmt: skip
AUGMENTATION = Augmentation(shift=2, flip=True, erasing=0.25)
TTAS = ("none", "flip", "flip_shift")


def per_layer(params: dict[str, object]) -> dict[str, object]:
    out = dict(params)
    for name in ("filters", "pooling"):
        for i, value in enumerate(out.pop(name)):  # type: ignore[arg-type]
            out[f"{name}_{i}"] = value
    return out


def run(seed: int, ema: float, epochs: int, splits) -> dict[str, object]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    params = {**per_layer(CHAMPION), "epochs": epochs, "ema_momentum": ema}
    model = build("cnn", params, steps_per_epoch=steps_per_epoch(len(splits.x_train), 128))
    started = time.perf_counter()
    fit(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, epochs=epochs,
        batch_size=128, seed=seed, augmentation=AUGMENTATION, one_hot=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    row: dict[str, object] = {"seed": seed, "ema": ema, "train_s": round(seconds, 1)}
    for tta in TTAS:
        row[tta] = evaluate(with_tta(model, tta), splits.x_val, splits.y_val).accuracy
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--ema", type=float, default=0.99)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    splits = make_splits(
        load_fashion_mnist(), validation_split=0.2, train_size=20000, test_size=10000, seed=0
    )
    rows = []
    for seed in range(args.seeds):
        for ema in (0.0, args.ema):
            rows.append(run(seed, ema, args.epochs, splits))
            print(json.dumps(rows[-1]), flush=True)

    def column(ema: float, tta: str) -> list[float]:
        return [float(r[tta]) for r in rows if r["ema"] == ema]  # type: ignore[arg-type]

    print("validation accuracy, median over seeds (paired differences: median, min..max):")
    for ema in (0.0, args.ema):
        for tta in TTAS:
            values = column(ema, tta)
            print(f"  ema {ema:<5} tta {tta:10s} {statistics.median(values):.4f}")
    for tta in ("flip", "flip_shift"):
        for ema in (0.0, args.ema):
            diffs = np.subtract(column(ema, tta), column(ema, "flip" if tta != "flip" else "none"))
            base = "flip" if tta != "flip" else "none"
            print(f"  ema {ema}: {tta} - {base}: {np.median(diffs):+.4f} "
                  f"({diffs.min():+.4f}..{diffs.max():+.4f})")  # fmt: skip
    for tta in TTAS:
        diffs = np.subtract(column(args.ema, tta), column(0.0, tta))
        print(f"  tta {tta}: ema {args.ema} - no ema: {np.median(diffs):+.4f} "
              f"({diffs.min():+.4f}..{diffs.max():+.4f})")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
