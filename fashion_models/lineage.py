"""Where a result came from: project commit, library versions, data checksums, host, device.

Computed once per process; every trial run of that worker carries the same tags.
"""

from __future__ import annotations

import hashlib
import platform
import socket
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("tensorflow", "keras", "optuna", "mlflow")


def git_commit(directory: Path = PROJECT_DIR) -> str:
    """The project's commit, `+dirty` when the tracked files differ from it; `unknown` outside
    a git checkout (an installed wheel) rather than an error: lineage must never stop a study."""
    try:
        head = _git(directory, "rev-parse", "HEAD")
        dirty = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def _git(directory: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True, timeout=10
    )
    return out.stdout.strip()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def device() -> str:
    """`gpu:<name>` for the first visible GPU, else `cpu:<processor>`."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"gpu:{details.get('device_name', gpus[0].name)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def data_checksum(checksums: dict[str, str]) -> str:
    """One SHA-256 over the four files' checksums, in a fixed order: the data set's identity."""
    joined = "\n".join(f"{role}={checksums[role]}" for role in sorted(checksums))
    return hashlib.sha256(joined.encode()).hexdigest()


@cache
def lineage_tags() -> dict[str, str]:
    """Tags for every run of this process (the trial seed is added per trial)."""
    from fashion_models.data import load_fashion_mnist  # cached per process: no second read

    checksums = load_fashion_mnist().checksums
    tags = {
        "lineage.git_commit": git_commit(),
        "lineage.python": platform.python_version(),
        **{f"lineage.{p}": _version(p) for p in PACKAGES},
        "lineage.data_sha256": data_checksum(checksums),
        **{f"lineage.data_sha256.{role}": digest for role, digest in checksums.items()},
        "lineage.host": socket.gethostname(),
        "lineage.device": device(),
    }
    return tags
