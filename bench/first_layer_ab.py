"""Do `whitening` and `flip_order: alternating` earn their place? Paired runs on the
champion's network at the champion study's trial fidelity.

    .venv/bin/python bench/first_layer_ab.py [--seeds 4] [--epochs 6]
        [--arms base,whiten2,whiten3,alternating] [--network champion|quickstart]
        [--train-size 20000] [--out FILE]

For each seed, the champion's network (vocabulary_ab.py's CHAMPION: `search_spaces/champion.yaml`
at its middle values, shift 2 + flip + erasing 0.25, bfloat16 where native) trains once per arm
on the same 16,000 / 4,000 split with the same seed; each arm changes one thing: `whitening: 2`
or `3` (a frozen patch-whitening first layer), or `flip_order: alternating`. The validation
accuracy (with and without flip TTA) is compared with the same seed's base run (with the TTA
the network predicts with, OWN_TTA). The test set is not touched.

`--network quickstart` trains the quickstart's network instead (`search_spaces/quickstart.yaml`
with batch norm, dense 128, dropout 0.2, Adam 3e-3 under one-cycle, batch 64, no augmentation),
e.g. `--train-size 60000 --epochs 4` for its final retrain's budget on 48,000 / 12,000 images.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from vocabulary_ab import AUGMENTATION, CHAMPION, per_layer  # noqa: E402

from fashion_models.train.data import load_fashion_mnist, make_splits  # noqa: E402
from fashion_models.train.model import build, one_hot_labels, with_tta  # noqa: E402
from fashion_models.train.pipeline import Augmentation, steps_per_epoch  # noqa: E402
from fashion_models.train.training import evaluate, fit  # noqa: E402

QUICKSTART = {
    "conv_layers": 2, "filters": [32, 64], "kernel_size": 3, "padding": "same",
    "pooling": ["max", "max"], "batch_norm": True, "dense_layers": 1, "dense_units": 128,
    "dropout": 0.2, "optimizer": "adam", "learning_rate": 3e-3, "lr_schedule": "one_cycle",
    "batch_size": 64, "precision": "auto",
}  # fmt: skip
NETWORKS = {"champion": (CHAMPION, AUGMENTATION), "quickstart": (QUICKSTART, Augmentation())}
# The TTA each network predicts with: the champion's flip (it trains on flipped images), none
# for the quickstart (it does not)
OWN_TTA = {"champion": "flip", "quickstart": "none"}
ARMS: dict[str, dict[str, object]] = {
    "base": {},
    "whiten2": {"whitening": 2},
    "whiten3": {"whitening": 3},
    "alternating": {"flip_order": "alternating"},
}


def run(seed: int, arm: str, epochs: int, splits, network: str) -> dict[str, object]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    change = ARMS[arm]
    network_params, network_augmentation = NETWORKS[network]
    params = {**per_layer(network_params), "epochs": epochs, **change}
    batch = int(params["batch_size"])  # type: ignore[call-overload]
    model = build("cnn", params, steps_per_epoch=steps_per_epoch(len(splits.x_train), batch))
    flip_order = str(change.get("flip_order", "random"))
    augmentation = replace(network_augmentation, flip_order=flip_order)
    started = time.perf_counter()
    fit(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, epochs=epochs,
        batch_size=batch, seed=seed, augmentation=augmentation, one_hot=one_hot_labels(params),
    )  # fmt: skip
    seconds = round(time.perf_counter() - started, 1)
    row: dict[str, object] = {"seed": seed, "arm": arm, "train_s": seconds}
    for tta in ("none", "flip"):
        row[tta] = evaluate(with_tta(model, tta), splits.x_val, splits.y_val).accuracy
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--arms", default="base,whiten2,whiten3,alternating")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="champion")
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    arms = args.arms.split(",")
    splits = make_splits(
        load_fashion_mnist(),
        validation_split=0.2,
        train_size=args.train_size,
        test_size=10000,
        seed=0,
    )
    rows = []
    for seed in range(args.seeds):
        for arm in arms:  # in turn within a seed, so drift in the machine's speed is shared
            rows.append(run(seed, arm, args.epochs, splits, args.network))
            print(json.dumps(rows[-1]), flush=True)

    def column(arm: str, key: str) -> list[float]:
        return [float(r[key]) for r in rows if r["arm"] == arm]  # type: ignore[arg-type]

    own = OWN_TTA[args.network]
    print("arm: validation accuracy median (tta none / flip), median train s; "
          f"paired difference from base (tta {own}): median, min..max")  # fmt: skip
    for arm in arms:
        line = (f"  {arm:12s} {statistics.median(column(arm, 'none')):.4f} / "
                f"{statistics.median(column(arm, 'flip')):.4f}  "
                f"{statistics.median(column(arm, 'train_s')):6.1f} s")  # fmt: skip
        if arm != "base" and "base" in arms:
            diffs = np.subtract(column(arm, own), column("base", own))
            line += f"  {np.median(diffs):+.4f} ({diffs.min():+.4f}..{diffs.max():+.4f})"
        print(line)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
