"""Optuna storages: SQLite on one host, PostgreSQL across hosts, a storage proxy in front of
either (proxy_client.py), a journal file; heartbeats; riding out a database restart
(reconnect.py).

Connections to PostgreSQL: a worker process holds at most sum(WORKER_POOL) = 5 (its queries,
its heartbeat thread and the claim lock take one each: 3 at once as measured), plus one for
the store-creation lock while it starts; through a proxy a worker holds none, and the proxy
at most proxy.THREADS = 10, however many workers it serves (tests/search/test_connections.py
and test_grpc_proxy.py count them).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from fashion_models.config.secrets import mask_url, scrub
from fashion_models.config.sections import WorkersSection
from fashion_models.config.stores import is_grpc, sqlite_file
from fashion_models.errors import StoreError
from fashion_models.search.claims import ClaimLock, claim_lock, store_init_lock
from fashion_models.search.connections import connect_args
from fashion_models.search.proxy_client import ProxyStorage, StaleTrialCallback
from fashion_models.search.reconnect import Reconnect, ReconnectingRDBStorage, first_line

WORKER_POOL = (3, 2)  # a worker's pool_size and max_overflow on a database server


def build_storage(
    url: str,
    workers: WorkersSection | None = None,
    stale_trial_callback: StaleTrialCallback | None = None,
    pool: tuple[int, int] = WORKER_POOL,
) -> optuna.storages.BaseStorage:
    """An RDB storage for SQLAlchemy URLs (with heartbeats when `workers` is given; a trial
    whose heartbeat stops goes to `stale_trial_callback`), a storage proxy's client for
    `grpc://HOST:PORT` (heartbeats too, once the proxy answers), a journal file for plain
    paths (no heartbeats: Optuna's journal storage has none). On a database server or a proxy
    every call rides out a dropped connection for `workers.storage_retry_seconds`
    (reconnect.py). `pool`: the pool size and overflow of a database server's connections."""
    if is_grpc(url):
        return _proxy_client(url, workers, stale_trial_callback)
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    engine_kwargs: dict[str, Any] = {}
    database = sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        # Writers queue for the lock instead of failing at once with "database is locked".
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        # Per worker process: the main thread, the heartbeat thread and the claim lock each
        # hold one connection; pre-ping replaces connections a server or proxy dropped, and
        # none is kept longer than a proxy or firewall is likely to let it idle.
        engine_kwargs.update(pool_pre_ping=True, pool_size=pool[0], max_overflow=pool[1])
        engine_kwargs.update(pool_recycle=300, connect_args=connect_args(url))
    heartbeat = _heartbeat_arguments(workers, stale_trial_callback)
    try:
        with store_init_lock(url), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if database is not None:
                storage = RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
                _use_wal(storage)
                return storage
            server = ReconnectingRDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
        seconds = (workers or WorkersSection()).storage_retry_seconds
        server.reconnect = Reconnect(url, seconds)
        return server
    except StoreError:
        raise
    except Exception as exc:  # SQLAlchemy and driver errors vary by backend
        raise StoreError(
            f"cannot open the Optuna storage {mask_url(url)}: {scrub(first_line(exc), url)}"
        ) from exc


def _heartbeat_arguments(
    workers: WorkersSection | None, stale_trial_callback: StaleTrialCallback | None
) -> dict[str, Any]:
    """RDBStorage's heartbeat arguments (ProxyStorage takes the same): none without `workers`."""
    if workers is None:
        return {}
    return {
        "heartbeat_interval": workers.heartbeat_interval,
        "grace_period": workers.grace_period,
        "heartbeat_stale_trial_callback": stale_trial_callback,
    }


def _proxy_client(
    url: str, workers: WorkersSection | None, stale_trial_callback: StaleTrialCallback | None
) -> ProxyStorage:
    heartbeat = _heartbeat_arguments(workers, stale_trial_callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = ProxyStorage(url, **heartbeat)
    storage.wait_ready()
    storage.reconnect = Reconnect(url, (workers or WorkersSection()).storage_retry_seconds)
    return storage


def has_heartbeats(storage: optuna.storages.BaseStorage) -> bool:
    """Whether trials of this storage send heartbeats (so a dead worker's trial is found)."""
    # Optuna 5.0's own check (is_heartbeat_enabled) is private; RDBStorage's interval is public.
    if not isinstance(storage, RDBStorage | ProxyStorage):
        return False
    return storage.get_heartbeat_interval() is not None


def study_claim_lock(storage: optuna.storages.BaseStorage, url: str, study_name: str) -> ClaimLock:
    """The claim lock of study `study_name` in `storage` (opened from `url`; claims.py): through
    a storage proxy, the proxy takes the database's lock for the worker."""
    if isinstance(storage, ProxyStorage):
        return storage.claim_lock(study_name)
    engine = getattr(storage, "engine", None)
    return claim_lock(url, study_name, engine, getattr(storage, "reconnect", None))


def _use_wal(storage: RDBStorage) -> None:
    # Write-ahead logging lets readers (workers counting trials) go on while one worker
    # writes; the setting is stored in the database file, so once is enough.
    with storage.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
