"""Study-wide locks, so that several workers claim trials one at a time; and the lock that
serialises creating a fresh store.

Optuna numbers trials uniquely on its own, but "is there still room for one more trial?" and
"create it" are two steps; two workers doing them together overshoot n_trials. Each worker
takes the study's claim lock around both steps. The lock lives where the storage lives: a
file lock beside a SQLite or journal file (one host), a PostgreSQL advisory lock (any host);
behind a storage proxy, the proxy takes the same lock for the worker (`try_acquire`, so that
it never waits on one: proxy.py).
Creating a store's schema (Optuna's or MLflow's) is serialised the same way: workers started
together on an empty database would otherwise race through CREATE TABLE.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

import sqlalchemy
from sqlalchemy.pool import NullPool

from fashion_models.config.secrets import mask_url, scrub
from fashion_models.config.stores import database_server, local_file, sqlite_file
from fashion_models.errors import StoreError
from fashion_models.search.connections import connect_args
from fashion_models.search.reconnect import Reconnect, connection_lost, first_line

# The advisory-lock key (per database: PostgreSQL keys its advisory locks by database) under
# which a fresh store's schema is created.
INIT_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"fashion-models:store-init").digest()[:8], "big", signed=True
)


class ClaimLock(Protocol):
    def acquire(self) -> None: ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free now; False (not held) if another holds it."""
        ...

    def release(self) -> None: ...


class FileLock:
    """An exclusive flock on a file beside the store; the kernel drops it if the worker dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self._take(fcntl.LOCK_EX)

    def try_acquire(self) -> bool:
        return self._take(fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _take(self, operation: int) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class AdvisoryLock:
    """A PostgreSQL session advisory lock on its own connection: the server drops it when a
    worker's connection dies, so a killed worker never leaves the study locked. Taking it
    rides out a database restart (`reconnect`); releasing it on a connection that dropped
    meanwhile has nothing left to release."""

    def __init__(
        self, engine: sqlalchemy.engine.Engine, name: str, reconnect: Reconnect | None = None
    ):
        digest = hashlib.sha256(f"fashion-models:{name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.engine = engine
        self.reconnect = reconnect
        self._connection: sqlalchemy.engine.Connection | None = None

    def acquire(self) -> None:
        take = lambda: _advisory_lock(self.engine, self.key)  # noqa: E731
        self._connection = self.reconnect.call(take) if self.reconnect else take()

    def try_acquire(self) -> bool:
        take = lambda: _try_advisory_lock(self.engine, self.key)  # noqa: E731
        self._connection = self.reconnect.call(take) if self.reconnect else take()
        return self._connection is not None

    def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            _advisory_unlock(connection, self.key)


def _advisory_lock(engine: sqlalchemy.engine.Engine, key: int) -> sqlalchemy.engine.Connection:
    """The connection holding the lock `key`, once it is free."""
    connection = _locked(engine, "SELECT true FROM pg_advisory_lock(:k)", key)
    assert connection is not None  # it waited until the lock was its own
    return connection


def _try_advisory_lock(
    engine: sqlalchemy.engine.Engine, key: int
) -> sqlalchemy.engine.Connection | None:
    """The connection holding the lock `key`, or None if another session holds it now."""
    return _locked(engine, "SELECT pg_try_advisory_lock(:k)", key)


def _locked(
    engine: sqlalchemy.engine.Engine, sql: str, key: int
) -> sqlalchemy.engine.Connection | None:
    connection = engine.connect()
    try:
        taken = bool(connection.execute(sqlalchemy.text(sql), {"k": key}).scalar())
        connection.commit()
    except BaseException:
        with suppress(Exception):
            connection.close()
        raise
    if not taken:
        connection.close()
        return None
    return connection


def _advisory_unlock(connection: sqlalchemy.engine.Connection, key: int) -> None:
    try:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        connection.commit()
    except Exception as exc:
        if not connection_lost(exc):
            raise
        # The server ended the session (a restart): its locks went with it.
    finally:
        with suppress(Exception):
            connection.close()


class NoLock:
    """Other storages: no study-wide lock (several workers may overshoot n_trials)."""

    def acquire(self) -> None:
        pass

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


def claim_lock(
    url: str,
    study_name: str,
    engine: sqlalchemy.engine.Engine | None,
    reconnect: Reconnect | None = None,
) -> ClaimLock:
    """The study's claim lock for the storage at `url`."""
    path = local_file(url)
    if path is not None:
        safe = hashlib.sha256(study_name.encode()).hexdigest()[:12]
        return FileLock(path.with_name(f"{path.name}.{safe}.lock"))
    if engine is not None and engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, study_name, reconnect)
    return NoLock()


@contextmanager
def store_init_lock(url: str) -> Iterator[None]:
    """Serialise creating a store (schema, migrations, the first rows): workers starting
    together on an empty store would otherwise race through it. A file lock beside a SQLite
    file; a PostgreSQL advisory lock on its own connection (the server drops it if the worker
    dies); nothing for other stores (a tracking server creates its schema itself)."""
    path = sqlite_file(url)
    if path is not None:
        lock = FileLock(path.with_name(f"{path.name}.init.lock"))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
    elif database_server(url) == "postgresql":
        engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=connect_args(url))
        try:
            connection = _advisory_lock(engine, INIT_LOCK_KEY)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            engine.dispose()
            why = scrub(first_line(exc), url)
            raise StoreError(f"cannot reach the database {mask_url(url)}: {why}") from exc
        try:
            yield
        finally:
            _advisory_unlock(connection, INIT_LOCK_KEY)
            engine.dispose()
    else:
        yield
