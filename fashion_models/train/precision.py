"""`precision: auto`: bfloat16 where the hardware computes it natively, float32 elsewhere.

Emulated bfloat16 is no bargain: on a 2-core AMD EPYC without AVX-512 (Zen 1, AVX2 only) a
training step of the champion's BN CNN took 6.7x as long in mixed bfloat16 as in float32,
where CPUs with AVX512_BF16 or AMX trained it 1.3-1.7x faster (bench/RESULTS.md). NVIDIA GPUs
compute bfloat16 natively from compute capability 8.0 (Ampere).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

NATIVE_BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
NATIVE_BFLOAT16_GPU_CAPABILITY = (8, 0)


def resolve(precision: str) -> str:
    """`float32` or `bfloat16`: `auto` becomes what this machine computes fastest."""
    if precision != "auto":
        return precision
    return "bfloat16" if native_bfloat16() else "float32"


def resolved_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with an `auto` precision resolved, so that runs and model versions record
    the precision the model was trained in."""
    out = dict(params)
    if "precision" in out:
        out["precision"] = resolve(str(out["precision"]))
    return out


def choose(cpu_flags: Collection[str], gpu_capability: tuple[int, int] | None) -> str:
    """The precision for a machine: the GPU decides when TensorFlow trains on one."""
    if gpu_capability is not None:
        return "bfloat16" if gpu_capability >= NATIVE_BFLOAT16_GPU_CAPABILITY else "float32"
    return "bfloat16" if NATIVE_BFLOAT16_CPU_FLAGS & set(cpu_flags) else "float32"


@functools.cache
def native_bfloat16() -> bool:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    capability = None
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        capability = details.get("compute_capability") or (0, 0)
    return choose(cpu_flags(), capability) == "bfloat16"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's feature flags (empty where /proc/cpuinfo is missing: not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()
