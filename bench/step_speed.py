"""How fast the champion's network trains on this CPU, and what each execution setting buys.

    .venv/bin/python bench/step_speed.py [--images 9600] [--epochs 3] [--pairs 2]
        [--variants baseline,jit,spe8,...] [--threads 2] [--out FILE]
    .venv/bin/python bench/step_speed.py --onednn [--threads 2]   # which kernels run, how long
    .venv/bin/python bench/step_speed.py --profile [--variants kerasbn]  # where a step's time goes

Every variant trains `search_spaces/champion.yaml`'s network (BN_CNN of training_throughput.py,
mixed bfloat16 where `precision: auto` picks it, shifted/mirrored/erased batches) through the
service's own `train.training.fit` (our tf.data pipeline), in its own process (XLA and Keras
policies are process-wide), with `--threads` intra-op threads. Images/s are of the training
steps alone (the validation pass left out), median over the epochs after the first (the first
holds tracing and compilation). Variants run in alternating pairs
with the baseline, so that a warmer or busier minute falls on both.

Variants (compile settings of Keras 3 and TensorFlow, none of which changes the network):
- `baseline`: as the service trains today;
- `jit`: `jit_compile=True` (XLA; Keras turns it off on CPU-only machines by default);
- `speN`: `steps_per_execution=N` (N training steps per call into the traced function);
- `bN`: batch size N (the one-cycle schedule follows the step count; accuracy to be checked);
- `parN`: the input pipeline's map and prefetch at N (instead of tf.data's AUTOTUNE);
- `kerasbn`: Keras' own BatchNormalization in place of `train/batch_norm.py`'s fused one (the
  service before 2026-12-07: compare it with `baseline` to see what the fused kernel buys);
- combinations joined by `+`, e.g. `jit+spe8`.

`--onednn` runs 6 steps with ONEDNN_VERBOSE=1 and sums oneDNN's own per-primitive times by
primitive kind and implementation: which convolutions, matmuls and reorders take the step.

`--profile` traces the second epoch of 2,560 images with TensorFlow's profiler and sums the
ops' self time (the profiler's `framework_op_stats`) by what they belong to: batch norm (ops
under a `*_bn` layer or of a FusedBatchNorm kind), oneDNN's convolutions, the optimizer, the
input pipeline, casts, the rest. The first variant of `--variants` is profiled (default
baseline).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
AUGMENTED = {"augment_shift": 2, "augment_flip": True, "augment_erasing": 0.25}


def settings(variant: str) -> dict[str, object]:
    out: dict[str, object] = {
        "jit_compile": False, "steps_per_execution": 1, "batch_size": 128, "keras_bn": False,
        "parallel": None,
    }  # fmt: skip
    for part in variant.split("+"):
        if part == "baseline":
            continue
        if part == "jit":
            out["jit_compile"] = True
        elif part == "kerasbn":
            out["keras_bn"] = True
        elif part.startswith("par"):
            out["parallel"] = int(part[3:])
        elif part.startswith("spe"):
            out["steps_per_execution"] = int(part[3:])
        elif part.startswith("b"):
            out["batch_size"] = int(part[1:])
        else:
            raise SystemExit(f"unknown variant part {part!r} in {variant!r}")
    return out


def child(
    variant: str, images: int, epochs: int, threads: int, extra_callbacks: list | None = None
) -> dict[str, object]:
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    sys.path.insert(0, str(HERE))
    from training_throughput import BN_CNN

    from fashion_models.train.data import load_fashion_mnist, make_splits
    from fashion_models.train.model import build
    from fashion_models.train.pipeline import Augmentation, steps_per_epoch
    from fashion_models.train.training import EpochReport, fit

    class TrainingClock(keras.callbacks.Callback):
        """Seconds of each epoch's training steps alone: from the epoch's start to the end of its
        last batch (the validation pass after it left out)."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = self._last = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self._last = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(self._last - self._start)

    chosen = settings(variant)
    if chosen["parallel"] is not None:
        tf.data.AUTOTUNE = int(chosen["parallel"])  # read by train/pipeline.py when it builds
    if chosen["keras_bn"]:
        from fashion_models.train import model as model_module

        model_module.FusedBatchNormalization = keras.layers.BatchNormalization  # type: ignore[misc]
    batch = int(chosen["batch_size"])
    splits = make_splits(
        load_fashion_mnist(), validation_split=0.2, train_size=int(images / 0.8),
        test_size=10000, seed=0,
    )  # fmt: skip
    params = {**BN_CNN, **AUGMENTED, "precision": "auto", "label_smoothing": 0.1,
              "batch_size": batch, "epochs": epochs}  # fmt: skip
    keras.utils.set_random_seed(0)
    model = build("cnn", params, steps_per_epoch=steps_per_epoch(len(splits.x_train), batch))
    model.compile(
        optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"],
        jit_compile=bool(chosen["jit_compile"]),
        steps_per_execution=int(chosen["steps_per_execution"]),
    )  # fmt: skip
    clock = TrainingClock()
    augmentation = Augmentation(shift=2, flip=True, erasing=0.25)
    result = fit(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, epochs=epochs,
        batch_size=batch, seed=0, augmentation=augmentation, one_hot=True,
        callbacks=[EpochReport(), clock, *(extra_callbacks or [])],
    )  # fmt: skip
    seconds = result.history["epoch_seconds"]
    steady = statistics.median(clock.seconds[1:])
    return {
        "variant": variant, "images": len(splits.x_train), "first_epoch_s": round(seconds[0], 2),
        "steady_epoch_s": round(statistics.median(seconds[1:]), 3),
        "steady_training_s": round(steady, 3),
        "images_per_s": round(len(splits.x_train) / steady, 1),
        "val_accuracy": round(result.history["val_accuracy"][-1], 4),
    }  # fmt: skip


def onednn(threads: int) -> None:
    """Run a few steps with oneDNN's verbose log; sum its times by primitive and kernel."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    command = [sys.executable, __file__, "--child", "baseline", "--images", "1280",
               "--epochs", "2", "--threads", str(threads)]  # fmt: skip
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    totals: dict[tuple[str, str], float] = collections.defaultdict(float)
    counts: dict[tuple[str, str], int] = collections.Counter()
    for line in out.splitlines():
        fields = line.split(",")  # onednn_verbose,v1,primitive,exec,cpu,KIND,IMPL,...,MS
        if not line.startswith("onednn_verbose") or "exec" not in fields[:5]:
            continue
        at = fields.index("exec")
        kind, impl, ms = fields[at + 2], fields[at + 3], fields[-1]
        try:
            totals[(kind, impl)] += float(ms)
        except ValueError:
            continue
        counts[(kind, impl)] += 1
    whole = sum(totals.values()) or 1.0
    print(f"oneDNN primitives, {threads} thread(s), 2 epochs of 1,024 images + validation: "
          f"{whole / 1000:.2f} s in oneDNN")  # fmt: skip
    for (kind, impl), ms in sorted(totals.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {kind:24s} {impl:40s} {counts[(kind, impl)]:6d} calls {ms:9.1f} ms "
              f"{100 * ms / whole:5.1f}%")  # fmt: skip


def profile(variant: str, threads: int) -> None:
    """Trace one epoch's steps; sum the ops' self time by what they belong to."""
    import glob
    import re
    import tempfile

    import keras
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    logdir = tempfile.mkdtemp(prefix="step-profile-")

    class Trace(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                tf.profiler.experimental.start(logdir)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                tf.profiler.experimental.stop()

    child(variant, 2560, 2, threads, extra_callbacks=[Trace()])
    paths = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    data, _ = plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    groups: dict[str, float] = collections.defaultdict(float)
    kinds: dict[str, float] = collections.defaultdict(float)
    for raw in table["rows"]:
        cells = [cell.get("v") if cell else None for cell in raw["c"]]
        row = dict(zip(columns, cells, strict=True))
        kind, name, us = row["type"], row["operation"], float(row["total_self_time"])
        if kind == "IDLE":
            continue
        if "_bn" in name or "BatchNorm" in kind:
            group = "batch norm"
        elif re.search(r"adam|Adam|optimizer|iteration|Assign|weight_decay", name):
            group = "optimizer"
        elif kind.startswith("_Mkl") and "Conv" in kind:
            group = "convolutions (oneDNN)"
        elif kind == "Cast":
            group = "casts"
        elif "Dataset" in kind or "Iterator" in name:
            group = "input pipeline"
        else:
            group = "other"
        groups[group] += us
        kinds[kind] += us
    whole = sum(groups.values())
    print(f"{variant}: ops' self time over 20 training steps and a validation pass, "
          f"{whole / 1000:.0f} ms:")  # fmt: skip
    for group, us in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:24s} {us / 1000:8.1f} ms {100 * us / whole:5.1f}%")
    print("  the 8 costliest op kinds:")
    for kind, us in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {kind:40s} {us / 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=9600)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="jit,spe8,jit+spe8,b256")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--onednn", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.images, args.epochs, args.threads)))
        return
    if args.onednn:
        onednn(args.threads)
        return
    if args.profile:
        variant = args.variants.split(",")[0] if "--variants" in sys.argv else "baseline"
        profile(variant, args.threads)
        return
    model_name = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown",
    )  # fmt: skip
    print(f"CPU: {model_name}, {os.cpu_count()} vCPUs; {args.threads} intra-op thread(s)")
    rows = []
    started = time.time()
    for pair in range(args.pairs):
        for variant in args.variants.split(","):
            for name in ("baseline", variant) if pair % 2 == 0 else (variant, "baseline"):
                command = [sys.executable, __file__, "--child", name, "--images",
                           str(args.images), "--epochs", str(args.epochs), "--threads",
                           str(args.threads)]  # fmt: skip
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    row = {"variant": name, "error": done.stderr.strip().splitlines()[-1:]}
                else:
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                row["pair"] = pair
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("median images/s per variant (each against its paired baselines):")
    for variant in args.variants.split(","):
        mine = [r["images_per_s"] for r in rows if r["variant"] == variant and "images_per_s" in r]
        base = [r["images_per_s"] for r in rows if r["variant"] == "baseline"]
        if mine and base:
            ours, theirs = statistics.median(mine), statistics.median(base)
            print(f"  {variant:16s} {ours:8.1f} vs baseline {theirs:8.1f}: x{ours / theirs:.2f}")
    print(f"{time.time() - started:.0f} s in all")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
