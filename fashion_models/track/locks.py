"""A mutex kept in the MLflow store itself, for the few read-compare-write steps that several
processes (workers of one study, or two studies) may run at the same moment.

The lock is a registered model with a reserved name: creating a registered model is atomic
(the store's unique constraint on the name), so exactly one creator wins, whatever the backend
(SQLite, PostgreSQL, or a tracking server over REST), and across hosts. Releasing deletes it.
A lock older than `stale_after` seconds is taken to belong to a crashed process and is broken.
"""

from __future__ import annotations

import os
import random
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from fashion_models.errors import FatalError

LOCK_PREFIX = "fashion-models-lock."
_BUSY = ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST")


class LockTimeout(FatalError):
    """Another process held the lock for longer than we were willing to wait."""


def lock_name(*parts: str) -> str:
    """A registered-model name for the lock (model names may not hold '/' or ':')."""
    return LOCK_PREFIX + ".".join(re.sub(r"[/:]", "_", p) for p in parts)


@contextmanager
def store_lock(name: str, *, timeout: float = 120.0, stale_after: float = 300.0) -> Iterator[None]:
    """Hold the lock `name` (from lock_name) for the duration of the block."""
    client = MlflowClient()
    deadline = time.monotonic() + timeout
    owner = f"{socket.gethostname()}:{os.getpid()}"
    while not _try_acquire(client, name, owner):
        _break_if_stale(client, name, stale_after)
        if time.monotonic() > deadline:
            raise LockTimeout(f"lock {name!r} still held after {timeout:.0f}s")
        time.sleep(0.1 + random.random() * 0.2)  # jitter: waiters do not retry in lockstep
    try:
        yield
    finally:
        # Broken as stale by another process meanwhile: then nothing is left to release.
        with suppress(MlflowException):
            client.delete_registered_model(name)


def _try_acquire(client: MlflowClient, name: str, owner: str) -> bool:
    try:
        client.create_registered_model(
            name, tags={"fashion_models.lock_owner": owner}, description="transient lock"
        )
    except MlflowException as exc:
        if exc.error_code in _BUSY:
            return False
        raise
    return True


def _break_if_stale(client: MlflowClient, name: str, stale_after: float) -> None:
    try:
        held = client.get_registered_model(name)
    except MlflowException:
        return  # released meanwhile
    age = time.time() - (held.creation_timestamp or 0) / 1000.0
    if age > stale_after:
        with suppress(MlflowException):
            client.delete_registered_model(name)
