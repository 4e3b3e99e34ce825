"""--workers and --gpus input, the thread rule and each worker's environment (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.run.workers import (
    GpuListError,
    parse_gpus,
    threads_per_worker,
    worker_env,
)
from tests.study_files import write_study
from tests.workers_helpers import _no_process_left, finish, start  # noqa: F401


@pytest.mark.parametrize(
    ("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8), (3, 16, 5)]
)
def test_thread_rule_shares_the_cores(workers: int, cores: int, threads: int) -> None:
    assert threads_per_worker(workers, cores) == threads


def test_gpus_index_into_the_users_cuda_visible_devices() -> None:
    assert parse_gpus("0,1", {}) == ["0", "1"]
    assert parse_gpus("1", {"CUDA_VISIBLE_DEVICES": "4,6"}) == ["6"]
    with pytest.raises(GpuListError, match="not among the 2 GPUs"):
        parse_gpus("2", {"CUDA_VISIBLE_DEVICES": "4,6"})
    with pytest.raises(GpuListError, match="GPU numbers"):
        parse_gpus("a,1", {})
    with pytest.raises(GpuListError, match="listed once"):
        parse_gpus("1,1", {})


def test_each_worker_gets_its_gpu_and_threads() -> None:
    envs = [worker_env(i, 3, ["4", "6"], {"PATH": "/bin"}) for i in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["4", "6", "4"]
    assert all(e["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for e in envs)
    assert all(e["TF_NUM_INTEROP_THREADS"] == "1" for e in envs)
    assert [e["FASHION_MODELS_WORKER"] for e in envs] == ["0/3", "1/3", "2/3"]
    # Without --gpus the user's CUDA_VISIBLE_DEVICES passes through untouched.
    assert worker_env(0, 2, [], {"CUDA_VISIBLE_DEVICES": "3"})["CUDA_VISIBLE_DEVICES"] == "3"


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (("--gpus", "0,x"), "", "expected GPU numbers"),
        (("--workers", "0"), "", "--workers"),
        ((), "workers: {heartbeat_interval: 5, grace_period: 5}", "workers.grace_period"),
        ((), "workers: {max_consecutive_failures: 0}", "expected an integer >= 1"),
    ],
)
def test_bad_worker_input_is_one_message_and_writes_nothing(
    tmp_path: Path, args: tuple[str, ...], extra: str, message: str
) -> None:
    path = write_study(tmp_path, extra=extra)
    code, out = finish(start(path, *args), timeout=120)
    assert code == 2, out
    assert message in out and "Traceback" not in out
    assert not (tmp_path / "store").exists()
