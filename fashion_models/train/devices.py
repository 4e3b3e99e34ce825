"""Where training runs: TensorFlow's thread pools, GPU memory growth, and the description of
this process's device that every run records. Knows nothing of Optuna or MLflow.

A worker's environment (set by run/workers.py before TensorFlow starts in it) says which GPU
it may see and how many threads it may use; this module applies it.
"""

from __future__ import annotations

import os
import socket
from functools import cache

WORKER_ENV = "FASHION_MODELS_WORKER"  # "i/N" in a worker started by --workers
THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share)."""
    return len(os.sched_getaffinity(0))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """The thread rule: N workers on C cores get floor(C / N) intra-op threads each (at least
    one) and one inter-op thread, so that N x threads never exceeds the cores."""
    return max(1, (cores or host_cores()) // workers)


def configure_tensorflow() -> list[str]:
    """Apply the thread sizes from the environment and turn GPU memory growth on; returns the
    names of the GPUs this process uses (none on a CPU-only machine). Must run before
    TensorFlow executes its first op (a worker calls it first thing)."""
    import tensorflow as tf

    # tf.function retracing warnings: each trial builds a new model, which is by design.
    tf.get_logger().setLevel("ERROR")
    intra, inter = (os.environ.get(name) for name in THREAD_ENV[:2])
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra))
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter))
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TensorFlow already started (e.g. in-process tests): keep it as is
        pass
    return _gpu_names()


def _gpu_names() -> list[str]:
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        short = gpu.name.removeprefix("/physical_device:")
        names.append(f"{short} ({details['device_name']})" if "device_name" in details else short)
    return names


@cache
def device_name() -> str:
    """The device this process trains on: its GPUs by name, else `CPU`."""
    return ",".join(_gpu_names()) or "CPU"


@cache
def device_tags() -> dict[str, str]:
    """How this worker is placed, for each run: visible GPUs, threads, host and slot (the
    device itself is lineage.device, from device_name)."""
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or "default"
    return {
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        "tf_threads": f"intra={intra} inter={inter}",
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "worker_slot": os.environ.get(WORKER_ENV, "shell"),
        **scheduler_tags(),
    }


def scheduler_tags() -> dict[str, str]:
    """Where a scheduler placed this worker, from the variables it sets in a job: the Slurm
    job (array job_task) and node, or the Kubernetes Indexed Job's completion index."""
    env, tags = os.environ, {}
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        tags["slurm_job"] = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    elif "SLURM_JOB_ID" in env:
        tags["slurm_job"] = env["SLURM_JOB_ID"]
    if "SLURMD_NODENAME" in env:
        tags["slurm_node"] = env["SLURMD_NODENAME"]
    if "JOB_COMPLETION_INDEX" in env:
        tags["k8s_job_index"] = env["JOB_COMPLETION_INDEX"]
    return tags
