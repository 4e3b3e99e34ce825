"""Optuna storages: SQLite on one host, PostgreSQL across hosts, a journal file; heartbeats,
the study's claim lock, and which worker is which."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from fashion_models.claims import ClaimLock, claim_lock, sqlite_file, store_init_lock
from fashion_models.config import StudyConfig
from fashion_models.recovery import StaleTrialCallback

WORKERS_JOINED = "fashion_models.workers_joined"  # study system attr: workers so far


class FatalStudyError(Exception):
    """The study cannot go on (storage unreachable, too many failures in a row)."""


def build_storage(url: str, config: StudyConfig | None = None) -> optuna.storages.BaseStorage:
    """An RDB storage for SQLAlchemy URLs (with heartbeats when `config` is given), a journal
    file for plain paths (no heartbeats: Optuna's journal storage has none)."""
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
        # hold one connection; pre-ping replaces connections a server or proxy dropped.
        engine_kwargs.update(pool_pre_ping=True, pool_size=3, max_overflow=2)
    heartbeat: dict[str, Any] = {}
    if config is not None:
        w = config.workers
        heartbeat = {
            "heartbeat_interval": w.heartbeat_interval,
            "grace_period": w.grace_period,
            "heartbeat_stale_trial_callback": StaleTrialCallback(
                config.tracking.experiment, w.grace_period
            ),
        }
    try:
        with store_init_lock(url), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
            if database is not None:
                _use_wal(storage)
        return storage
    except Exception as exc:  # SQLAlchemy and driver errors vary by backend
        raise FatalStudyError(f"cannot open the Optuna storage {url}: {exc}") from exc


def _use_wal(storage: RDBStorage) -> None:
    # Write-ahead logging lets readers (workers counting trials) go on while one worker
    # writes; the setting is stored in the database file, so once is enough.
    with storage.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def study_lock(config: StudyConfig, study: optuna.Study) -> ClaimLock:
    return claim_lock(config.storage, config.study.name, getattr(study._storage, "engine", None))


def join_study(study: optuna.Study, lock: ClaimLock) -> int:
    lock.acquire()
    try:
        index = int(study._storage.get_study_system_attrs(study._study_id).get(WORKERS_JOINED, 0))
        study._storage.set_study_system_attr(study._study_id, WORKERS_JOINED, index + 1)
        return index
    finally:
        lock.release()


def worker_seed(seed: int, index: int) -> int:
    """Worker 0 keeps the study seed; the others get independent seeds derived from it."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def open_tracking(config: StudyConfig) -> str:
    """Connect MLflow and return the experiment id, created once however many workers start
    together (a local SQLite tracking store is also created under a lock)."""
    from fashion_models import tracking

    uri = config.tracking.uri
    with store_init_lock(uri):
        tracking.connect(uri)
        return tracking.ensure_experiment(config.tracking.experiment, uri)
