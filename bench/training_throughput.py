"""Training throughput per model family, float32 and bfloat16: the service's trial against a
bare `model.fit` of the same model on the same images, and what augmentation costs.

    .venv/bin/python bench/training_throughput.py [--images 12000] [--epochs 3] [--out FILE]

For each family and precision, one process (this one), one after the other, same threads:
- bare: `model.fit(x, y, batch_size, epochs, validation_data)` on the arrays (Keras' own
  adapter), timed per epoch by a callback; the first epoch (tracing) is left out;
- service: `run.training_run.train_and_log` in a real MLflow run (temp store): our tf.data
  pipeline, the epoch logger, then test evaluation, reports and the logged model; its per-epoch
  `epoch_seconds` (first left out) and the whole trial's wall time;
- service + augmentation (the families that use it): shift 2, flip, erasing 0.5.

GFLOP/s: multiply-accumulates of every Conv2D and Dense layer from its output shape, x2 for
FLOPs, x3 for a training step (forward, and a backward pass of about twice the forward), over
the steady epochs' images per second. The CPU's float32 peak: cores x 2 AVX-512 FMA units x
16 lanes x 2 FLOPs x the clock from /proc/cpuinfo (stated in the output; an estimate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import keras
import mlflow

from fashion_models.run.training_run import train_and_log
from fashion_models.track.trial_run import TrialRun
from fashion_models.train.data import load_fashion_mnist, make_splits
from fashion_models.train.model import build
from fashion_models.train.resnet import ResidualBlock
from fashion_models.train.training import EpochReport

SEED_CNN: dict[str, object] = {"batch_size": 32}  # the defaults are the team's notebook CNN
BN_CNN: dict[str, object] = {  # search_spaces/champion.yaml's network
    "conv_layers": 4, "filters_0": 32, "filters_1": 32, "filters_2": 64, "filters_3": 64,
    "padding": "same", "pooling_0": "none", "pooling_1": "max", "pooling_2": "none",
    "pooling_3": "max", "batch_norm": True, "dense_units": 256, "dropout": 0.3,
    "optimizer": "adamw", "learning_rate": 3e-3, "lr_schedule": "one_cycle", "batch_size": 128,
}  # fmt: skip
RESNET: dict[str, object] = {
    "stages": 3, "blocks_per_stage": 2, "width": 16, "head": "global_avg", "dense_layers": 0,
    "optimizer": "sgd", "learning_rate": 0.05, "weight_decay": 5e-4,
    "lr_schedule": "one_cycle", "batch_size": 128,
}  # fmt: skip
FAMILIES = {"seed_cnn": ("cnn", SEED_CNN), "bn_cnn": ("cnn", BN_CNN), "resnet": ("resnet", RESNET)}
AUGMENTED = {"augment_shift": 2, "augment_flip": True, "augment_erasing": 0.5}


def training_flops_per_image(model: keras.Model) -> float:
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            h, w, c_out = layer.output.shape[1:]
            k_h, k_w = layer.kernel_size
            macs += h * w * c_out * k_h * k_w * layer.kernel.shape[2]
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, ResidualBlock):
            h, w, c_out = layer.output.shape[1:]
            c_in = layer.conv_a.kernel.shape[2]
            macs += h * w * c_out * 9 * (c_in + c_out)  # conv_a and conv_b, 3x3
            if layer.project is not None:
                macs += h * w * c_out * c_in  # the 1x1 projection of the shortcut
    return 3 * 2 * float(macs)


def bare_fit(model_type: str, params: dict, splits, epochs: int) -> list[float]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build(model_type, params, steps_per_epoch=len(splits.x_train) // params["batch_size"])
    history = model.fit(
        splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
        batch_size=int(params["batch_size"]), epochs=epochs, callbacks=[EpochReport()], verbose=0,
    )  # fmt: skip
    return [float(s) for s in history.history["epoch_seconds"]]


def service_trial(model_type: str, params: dict, splits, epochs: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    with TrialRun(EXPERIMENT_ID, "bench", 0, {}) as run:
        trained = train_and_log(run, model_type, {**params, "epochs": epochs}, 0, splits)
        run.mark("COMPLETE")
    wall = time.perf_counter() - started
    return [float(s) for s in trained.fit.history["epoch_seconds"]], wall


def cpu_peak_gflops() -> tuple[float, str]:
    text = Path("/proc/cpuinfo").read_text()
    mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text))
    cores = os.cpu_count() or 1
    peak = cores * 2 * 16 * 2 * mhz / 1000
    model = re.search(r"model name\s*:\s*(.+)", text)
    how = (
        f"{model.group(1) if model else platform.processor()}, {cores} cores x 2 FMA units x "
        f"16 float32 lanes x 2 FLOPs x {mhz:.0f} MHz"
    )
    return peak, how


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    global EXPERIMENT_ID
    store = tempfile.mkdtemp(prefix="bench-mlflow-")
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    EXPERIMENT_ID = mlflow.create_experiment("bench", artifact_location=f"{store}/artifacts")
    splits = make_splits(
        load_fashion_mnist(), validation_split=0.2, train_size=int(args.images / 0.8),
        test_size=10000, seed=0,
    )  # fmt: skip
    peak, how = cpu_peak_gflops()
    print(f"float32 peak estimate: {peak:.0f} GFLOP/s ({how})", flush=True)
    rows = []
    for family, (model_type, base) in FAMILIES.items():
        for precision in ("float32", "bfloat16"):
            params = {**base, "precision": precision}
            flops = training_flops_per_image(build(model_type, params))
            n = len(splits.x_train)
            bare = statistics.median(bare_fit(model_type, params, splits, args.epochs)[1:])
            epochs, wall = service_trial(model_type, params, splits, args.epochs)
            service = statistics.median(epochs[1:])
            row = {
                "family": family, "precision": precision, "images": n,
                "train_gflop_per_image": flops / 1e9,
                "bare_images_per_s": n / bare, "service_images_per_s": n / service,
                "service_over_bare": bare / service,
                "service_gflop_s": flops * n / service / 1e9,
                "service_share_of_f32_peak": flops * n / service / 1e9 / peak,
                "service_trial_wall_s": wall,
            }  # fmt: skip
            if family != "seed_cnn":
                augmented, _ = service_trial(
                    model_type, {**params, **AUGMENTED}, splits, args.epochs
                )
                row["augmented_images_per_s"] = n / statistics.median(augmented[1:])
                row["augmentation_cost"] = statistics.median(augmented[1:]) / service - 1
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"peak_gflops": peak, "peak": how, "rows": rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
