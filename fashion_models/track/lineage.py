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

from fashion_models.train.data import load_fashion_mnist  # cached per process
from fashion_models.train.devices import device_name

PROJECT_DIR = Path(__file__).resolve().parents[2]
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


def data_checksum(checksums: dict[str, str]) -> str:
    """One SHA-256 over the four files' checksums, in a fixed order: the data set's identity."""
    joined = "\n".join(f"{role}={checksums[role]}" for role in sorted(checksums))
    return hashlib.sha256(joined.encode()).hexdigest()


@cache
def lineage_tags() -> dict[str, str]:
    """Tags for every run of this process (the trial seed is added per trial)."""
    checksums = load_fashion_mnist().checksums
    tags = {
        "lineage.git_commit": git_commit(),
        "lineage.python": platform.python_version(),
        **{f"lineage.{p}": _version(p) for p in PACKAGES},
        "lineage.data_sha256": data_checksum(checksums),
        **{f"lineage.data_sha256.{role}": digest for role, digest in checksums.items()},
        "lineage.host": socket.gethostname(),
        "lineage.device": device_name(),
    }
    return tags
