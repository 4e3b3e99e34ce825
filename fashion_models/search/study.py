"""Creating, joining and opening a study: its storage, sampler, pruner and claim lock, made
once per process and held together in a StudyHandle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna
from optuna.study import StudyDirection

from fashion_models.config.components import build_pruner, build_sampler
from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig
from fashion_models.config.stores import local_file
from fashion_models.errors import StudyNotFoundError
from fashion_models.search.claims import ClaimLock
from fashion_models.search.storages import (
    StaleTrialCallback,
    build_storage,
    has_heartbeats,
    study_claim_lock,
)

WORKERS_JOINED = "fashion_models.workers_joined"  # study system attr: workers so far


@dataclass(frozen=True)
class StudyHandle:
    """An open study and what its trial loop needs, for the life of a process."""

    study: optuna.Study
    storage: optuna.storages.BaseStorage
    lock: ClaimLock  # the study-wide claim lock (see claims.py)
    worker_index: int | None  # this process's place among the study's workers; None: not one

    @property
    def heartbeats(self) -> bool:
        return has_heartbeats(self.storage)

    @property
    def storage_lost(self) -> str | None:
        """Why the storage counts as lost (no connection for workers.storage_retry_seconds),
        or None while it answers."""
        reconnect = getattr(self.storage, "reconnect", None)
        return reconnect.lost if reconnect is not None else None


def open_study(
    config: StudyConfig,
    *,
    join: bool = True,
    stale_trial_callback: StaleTrialCallback | None = None,
) -> StudyHandle:
    """Create the study, or open it if it exists (a second run continues, never restarts).

    A worker that joins (`join=True`) gets the next worker index; its sampler is seeded from
    study.seed and that index, so workers explore different points and the first one keeps
    study.seed. `join=False` only creates or opens it (the parent of --workers runs no trials).
    """
    storage = build_storage(config.storage, config.workers, stale_trial_callback)
    lock = study_claim_lock(storage, config.storage, config.study.name)
    index = _join(storage, lock, config) if join else None
    seed = config.study.seed if index is None else worker_seed(config.study.seed, index)
    study = optuna.create_study(
        storage=storage,
        sampler=build_sampler(config, seed=seed),
        pruner=build_pruner(config),
        study_name=config.study.name,
        directions=_directions(config),
        load_if_exists=True,
    )
    return StudyHandle(study, storage, lock, index)


def _directions(config: StudyConfig) -> list[StudyDirection]:
    """The metric's direction, then one `minimize` per cost of a multi-objective study."""
    return [
        StudyDirection.MAXIMIZE if direction == "maximize" else StudyDirection.MINIMIZE
        for direction in config.study.directions
    ]


def _join(storage: optuna.storages.BaseStorage, lock: ClaimLock, config: StudyConfig) -> int:
    """This worker's index: the study's count of joined workers, taken and raised under the
    claim lock (the study is created here if it is new, so the count has a place to live)."""
    lock.acquire()
    try:
        study_id = _create_or_find(storage, config)
        index = int(storage.get_study_system_attrs(study_id).get(WORKERS_JOINED, 0))
        storage.set_study_system_attr(study_id, WORKERS_JOINED, index + 1)
        return index
    finally:
        lock.release()


def _create_or_find(storage: optuna.storages.BaseStorage, config: StudyConfig) -> int:
    name = config.study.name
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        pass
    try:
        return storage.create_new_study(_directions(config), name)
    except optuna.exceptions.DuplicatedStudyError:  # a storage without a claim lock: raced
        return storage.get_study_id_from_name(name)


def worker_seed(seed: int, index: int) -> int:
    """Worker 0 keeps the study seed; the others get independent seeds derived from it."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def load_existing_study(config: StudyConfig) -> optuna.Study:
    """The study of `config`, which must exist: a missing one is a user error, and nothing
    (not even an empty database file) is created while finding out."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = config.storage
    path = local_file(url)
    if path is not None and not path.is_file():
        raise _no_study(config, f"storage {mask_url(url)} does not exist")
    storage = build_storage(url)
    try:
        return optuna.load_study(study_name=config.study.name, storage=storage)
    except KeyError:
        raise _no_study(config, f"it is not in storage {mask_url(url)}") from None


def _no_study(config: StudyConfig, why: str) -> StudyNotFoundError:
    return StudyNotFoundError(
        f"{config.path}: study.name: no study {config.study.name!r} yet: {why}; "
        f"run `optuna-run {config.path}` first"
    )
