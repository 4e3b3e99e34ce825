"""Is bfloat16 native here? Training steps of the champion's BN CNN in float32 and in Keras'
mixed bfloat16, one after the other in fresh processes, and what `precision: auto` picks.

    .venv/bin/python bench/precision_speed.py [--threads 1] [--steps 8] [--batch 128]

Each precision runs in its own process (a Keras dtype policy is process-wide), on real
Fashion-MNIST images, with `--threads` intra- and inter-op threads: one step to trace, then
`--steps` timed `train_on_batch` steps. On a CPU without AVX512_BF16 or AMX, TensorFlow
emulates bfloat16 and a step takes several times as long; `auto` must then pick float32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PRECISIONS = ("float32", "bfloat16")


def measure(precision: str, threads: int, steps: int, batch: int) -> dict[str, object]:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from training_throughput import BN_CNN

    from fashion_models.train.data import load_fashion_mnist
    from fashion_models.train.model import build

    data = load_fashion_mnist()
    x = (data.x_train[: batch * (steps + 1)].astype(np.float32) / 255.0)[..., None]
    y = data.y_train[: batch * (steps + 1)].astype(np.int32)
    model = build("cnn", {**BN_CNN, "precision": precision}, steps_per_epoch=steps + 1)
    model.train_on_batch(x[:batch], y[:batch])  # tracing
    start = time.perf_counter()
    for i in range(1, steps + 1):
        model.train_on_batch(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch])
    seconds = time.perf_counter() - start
    return {
        "precision": precision,
        "ms_per_step": round(1000 * seconds / steps),
        "images_per_s": round(steps * batch / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--only", choices=PRECISIONS, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure(args.only, args.threads, args.steps, args.batch)))
        return

    from fashion_models.train.precision import NATIVE_BFLOAT16_CPU_FLAGS, cpu_flags, resolve

    model_name = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown",
    )  # fmt: skip
    print(f"CPU: {model_name}; bf16 flags: {sorted(NATIVE_BFLOAT16_CPU_FLAGS & cpu_flags())}")
    rows = []
    for precision in PRECISIONS:
        child = [sys.executable, __file__, "--only", precision, "--threads", str(args.threads),
                 "--steps", str(args.steps), "--batch", str(args.batch)]  # fmt: skip
        out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    ratio = rows[1]["ms_per_step"] / rows[0]["ms_per_step"]  # type: ignore[operator]
    print(f"bfloat16 step / float32 step: {ratio:.2f}; precision: auto picks {resolve('auto')}")


if __name__ == "__main__":
    main()
