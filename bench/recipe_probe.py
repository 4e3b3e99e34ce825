"""Which network and recipe can reach the champion's accuracy goal? One candidate trained at
the final retrain's fidelity, judged on held-out training images only.

    .venv/bin/python bench/recipe_probe.py CANDIDATE [--epochs 20] [--seed 0] [--out FILE]
    TF_NUM_INTRAOP_THREADS=1 ...   # two probes side by side, one core each

A candidate (see CANDIDATES) trains on 50,000 of the 60,000 training images for `--epochs`
epochs, the way the final retrain does (one-cycle over the run, the same augmentation and
precision), and is evaluated on the other 10,000 (stratified, seed 0) with each test-time
augmentation. The test set is not touched: candidates are compared on validation accuracy,
and only the shipped study's own final retrain is ever evaluated on test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import keras

from fashion_models.run.training_run import augmentation
from fashion_models.train.data import load_fashion_mnist, make_splits
from fashion_models.train.model import build, one_hot_labels, with_tta
from fashion_models.train.pipeline import steps_per_epoch
from fashion_models.train.training import evaluate, fit

# The champion space's middle values (search_spaces/champion.yaml).
RECIPE: dict[str, Any] = {
    "bn_momentum": 0.9, "dense_layers": 1, "dense_units": 256, "dropout": 0.3,
    "optimizer": "adamw", "learning_rate": 3e-3, "weight_decay": 5e-3, "label_smoothing": 0.1,
    "lr_schedule": "one_cycle", "batch_size": 128, "augment_shift": 2, "augment_flip": True,
    "augment_erasing": 0.25, "precision": "auto", "batch_norm": True,
}  # fmt: skip
VGG = {"conv_layout": "blocks", "kernel_size": 3, "head": "flatten", "conv_dropout": 0.05}
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    # Today's champion network: [32, 32, 64, 64] in two pooled pairs, dense 256.
    "vgg4x32": ("cnn", {**RECIPE, **VGG, "conv_layers": 4, "filters": 32}),
    "vgg4x48": ("cnn", {**RECIPE, **VGG, "conv_layers": 4, "filters": 48}),
    "vgg4x64": ("cnn", {**RECIPE, **VGG, "conv_layers": 4, "filters": 64}),
    # A third pair at 7x7 (128 filters) then 3x3: 1.6x the FLOPs of vgg4x32.
    "vgg6x32": ("cnn", {**RECIPE, **VGG, "conv_layers": 6, "filters": 32}),
    "vgg6x48": ("cnn", {**RECIPE, **VGG, "conv_layers": 6, "filters": 48}),
    "resnet8x32": (
        "resnet",
        {**RECIPE, "stages": 3, "blocks_per_stage": 1, "width": 32, "head": "global_avg"},
    ),  # fmt: skip
}
TTAS = ("none", "flip", "flip_shift")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate", choices=sorted(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=JSON",
        help="override one param of the candidate, e.g. --set augment_erasing=0.5",
    )  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model_type, params = CANDIDATES[args.candidate]
    params = {**params, "epochs": args.epochs}
    for item in args.set:
        name, _, value = item.partition("=")
        params[name] = json.loads(value)
    splits = make_splits(load_fashion_mnist(), validation_split=1 / 6, test_size=10, seed=0)
    keras.utils.set_random_seed(args.seed)
    batch = int(params["batch_size"])
    model = build(model_type, params, steps_per_epoch=steps_per_epoch(len(splits.x_train), batch))
    started = time.perf_counter()
    result = fit(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, epochs=args.epochs,
        batch_size=batch, seed=args.seed, augmentation=augmentation(params),
        one_hot=one_hot_labels(params),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {
        "candidate": args.candidate, "overrides": args.set, "epochs": args.epochs,
        "seed": args.seed, "train_images": len(splits.x_train), "params": model.count_params(),
        "train_s": round(seconds, 1),
        "img_per_s": round(len(splits.x_train) * args.epochs / seconds),
        "threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "default"),
        "val_per_epoch": [round(v, 4) for v in result.history.get("val_accuracy", [])],
    }  # fmt: skip
    for tta in TTAS:
        row[f"val_{tta}"] = evaluate(with_tta(model, tta), splits.x_val, splits.y_val).accuracy
    print(json.dumps(row), flush=True)
    if args.out:
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
