"""Study-wide locks, so that several workers claim trials one at a time.

Optuna numbers trials uniquely on its own, but "is there still room for one more trial?" and
"create it" are two steps; two workers doing them together overshoot n_trials. Each worker
takes the study's claim lock around both steps. The lock lives where the storage lives: a
file lock beside a SQLite or journal file (one host), a PostgreSQL advisory lock (any host).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import sqlalchemy

from fashion_models.spec.stores import local_file, sqlite_file


class ClaimLock(Protocol):
    def acquire(self) -> None: ...

    def release(self) -> None: ...


class FileLock:
    """An exclusive flock on a file beside the store; the kernel drops it if the worker dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class AdvisoryLock:
    """A PostgreSQL session advisory lock on its own connection: the server drops it when a
    worker's connection dies, so a killed worker never leaves the study locked."""

    def __init__(self, engine: sqlalchemy.engine.Engine, name: str):
        digest = hashlib.sha256(f"fashion-models:{name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.engine = engine
        self._connection: sqlalchemy.engine.Connection | None = None

    def acquire(self) -> None:
        connection = self.engine.connect()
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        connection.commit()
        self._connection = connection

    def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            connection.commit()
            connection.close()


class NoLock:
    """Other storages: no study-wide lock (several workers may overshoot n_trials)."""

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass


def claim_lock(url: str, study_name: str, engine: sqlalchemy.engine.Engine | None) -> ClaimLock:
    """The study's claim lock for the storage at `url`."""
    path = local_file(url)
    if path is not None:
        safe = hashlib.sha256(study_name.encode()).hexdigest()[:12]
        return FileLock(path.with_name(f"{path.name}.{safe}.lock"))
    if engine is not None and engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, study_name)
    return NoLock()


@contextmanager
def store_init_lock(url: str) -> Iterator[None]:
    """Serialise creating a local SQLite store: workers starting together would otherwise race
    through its schema creation and migrations. Database servers need no such lock."""
    path = sqlite_file(url)
    if path is None:
        yield
        return
    lock = FileLock(path.with_name(f"{path.name}.init.lock"))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
