"""Riding out a database restart: storage calls that fail because the connection dropped
(the server restarted or failed over, a proxy killed an idle connection) are retried with
backoff for a bounded time, `workers.storage_retry_seconds`; only past that bound does the
worker stop, with one line naming the storage and the time it waited.

The pool pre-pings every connection it hands out, so a retry after the server is back gets a
fresh one; the trial that was training goes on meanwhile (its heartbeat thread and its epoch
reports wait in the retry, they do not fail the trial).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import optuna
import sqlalchemy
from optuna.storages import RDBStorage

from fashion_models.config.secrets import mask_url, scrub
from fashion_models.errors import StoreError

T = TypeVar("T")
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 5.0  # seconds between tries: doubling, capped


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it: Optuna wraps SQLAlchemy's errors) is a dropped or
    refused database connection, or a storage proxy that does not answer, as opposed to an
    error a retry cannot mend."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, grpc.Call) and current.code() == grpc.StatusCode.UNAVAILABLE:
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        if type(current).__module__.startswith("psycopg") and type(current).__name__ in (
            "OperationalError",
            "InterfaceError",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line only (SQLAlchemy appends the SQL and a link)."""
    cause: BaseException = exc
    while isinstance(cause, optuna.exceptions.StorageInternalError) and cause.__cause__:
        cause = cause.__cause__
    if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.orig is not None:
        cause = cause.orig
    if isinstance(cause, grpc.Call):  # its str() is a multi-line dump of the call
        return f"{cause.code().name}: {cause.details()}"
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}".strip()


class Reconnect:
    """The retry policy of one storage: try, and while the connection is lost, try again
    with backoff until `seconds` have passed. Once a call has waited that long, the storage
    counts as lost and later calls fail at once (a worker stops after one wait, not one per
    pending call); unless not `sticky`: a storage proxy serves workers for longer than one
    outage, so each of its calls waits anew."""

    def __init__(self, url: str, seconds: float, sticky: bool = True):
        self.url = url
        self.seconds = seconds
        self.sticky = sticky
        self.lost: str | None = None  # why the storage counts as lost, once it does
        self._local = threading.local()  # nested storage calls retry only at the outermost

    def call(self, action: Callable[[], T]) -> T:
        if getattr(self._local, "depth", 0) or self.seconds <= 0:
            return action()
        if self.lost is not None:
            raise StoreError(self.lost)
        self._local.depth = 1
        try:
            return self._retry(action)
        finally:
            self._local.depth = 0

    def _retry(self, action: Callable[[], T]) -> T:
        started, pause = time.monotonic(), FIRST_PAUSE
        while True:
            try:
                return action()
            except Exception as exc:
                waited = time.monotonic() - started
                if not connection_lost(exc):
                    raise
                if waited >= self.seconds:
                    lost = self.gave_up(waited, exc)
                    if self.sticky:
                        self.lost = lost
                    raise StoreError(lost) from exc
                time.sleep(min(pause, self.seconds - waited))
                pause = min(pause * 2, LONGEST_PAUSE)

    def gave_up(self, waited: float, exc: BaseException) -> str:
        return (
            f"lost the Optuna storage {mask_url(self.url)}: no connection for {waited:.0f}s "
            f"(workers.storage_retry_seconds = {self.seconds:g}); last error: "
            f"{scrub(first_line(exc), self.url)}"
        )


class ReconnectingRDBStorage(RDBStorage):
    """Optuna's RDB storage whose every database call rides out a dropped connection
    (`reconnect`, set after construction: creating the schema is not retried, an unreachable
    server at start is one clear error)."""

    reconnect: Reconnect | None = None  # None while Optuna sets the storage up

    def record_heartbeat(self, trial_id: int) -> None:
        """The heartbeat thread's call: retried like the others, but a storage found lost is
        left to the trial's own thread to report (a thread's traceback is no message)."""
        with contextlib.suppress(StoreError):
            _retried(RDBStorage.record_heartbeat)(self, trial_id)


# The storage calls a worker makes, each retried whole: one call is one transaction, rolled
# back when its connection drops. BaseStorage's public ones, the stale-trial query, and the
# private ones Optuna's storage cache (_CachedStorage, which wraps every RDBStorage a study
# opens) calls instead of their public forms: reading the study's trials, creating a trial,
# writing a param, finding the best trial. Creating a trial is retried by Optuna itself too
# (on any operational error): a commit whose answer is lost could leave a trial twice there
# and here alike.
_CACHE_CALLS = {"_get_trials", "_create_new_trial", "_set_trial_param", "_get_best_trial_id"}
_RETRIED = sorted(
    {
        name
        for name in vars(optuna.storages.BaseStorage)
        if not name.startswith("_") and callable(getattr(RDBStorage, name, None))
    }
    | {"_get_stale_trial_ids"}
    | _CACHE_CALLS
)


def _retried(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: ReconnectingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        if self.reconnect is None:
            return method(self, *args, **kwargs)
        return self.reconnect.call(lambda: method(self, *args, **kwargs))

    return call


for _name in _RETRIED:
    setattr(ReconnectingRDBStorage, _name, _retried(getattr(RDBStorage, _name)))
