"""Tests for the PostgreSQL connections a worker holds (search/storages.py, claims.py,
connections.py), counted in `pg_stat_activity` while real workers run a study on a fresh
database. Through a storage proxy, test_grpc_proxy.py counts the proxy's."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.search.storages import WORKER_POOL
from tests.helpers import (
    assert_exact_study,
    finish,
    load_study,
    mlflow_client,
    pg_connections,
    start,
    write_study,
)

pytestmark = pytest.mark.slow

# Its pool (queries, the heartbeat thread, the claim lock) and, while it starts, the
# store-creation lock's own connection.
PER_WORKER = sum(WORKER_POOL) + 1


def test_each_worker_stays_within_its_connections_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    path = write_study(tmp_path, n_trials=5)
    env = {"OPTUNA_STORAGE": pg_url, "TF_NUM_INTRAOP_THREADS": "1"}
    with pg_connections(pg_url) as samples:
        workers = [start(path, env=env) for _ in range(3)]
        results = [finish(worker) for worker in workers]
    for code, out in results:
        assert code == 0, out
    assert_exact_study(load_study(pg_url), 5, mlflow_client(tmp_path))

    names = {f"optuna-run {w.pid}@" for w in workers}
    seen = {name for sample in samples for name in sample}
    assert seen and all(name[: name.index("@") + 1] in names for name in seen), seen
    most = {name: max(s.get(name, 0) for s in samples) for name in seen}
    total = max(sum(s.values()) for s in samples)
    print(f"\nconnections per worker, most at once: {sorted(most.values())}; all: {total}")
    assert max(most.values()) <= PER_WORKER
    assert total <= PER_WORKER * len(workers)
