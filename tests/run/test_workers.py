"""Tests for fashion_models.run.workers: `--workers` and `--gpus`, each worker's environment,
and several workers on one study (real processes, real stores, tiny trials on real data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fashion_models.run.workers import GpuListError, parse_gpus, worker_env
from tests.helpers import (
    assert_exact_study,
    failed,
    finish,
    load_study,
    mlflow_client,
    sqlite_url,
    start,
    trial_run_list,
    wait_for_running_trial,
    write_study,
)


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


@pytest.mark.slow
def test_workers_and_a_second_shell_share_one_sqlite_study(tmp_path: Path) -> None:
    # `--workers 2 --gpus 0,1` plus a plain shell: three workers on one SQLite study. The GPU
    # numbers index into the user's CUDA_VISIBLE_DEVICES; on this CPU machine TF finds no GPU.
    path = write_study(tmp_path, n_trials=5)
    env = {"CUDA_VISIBLE_DEVICES": "7,5"}
    parent = start(path, "--workers", "2", "--gpus", "0,1", env=env)
    wait_for_running_trial(sqlite_url(tmp_path), parent)  # the shell then joins that study
    shell = start(path, env=env)
    (code, out), (shell_code, shell_out) = finish(parent), finish(shell)
    assert code == 0, out
    assert shell_code == 0, shell_out
    assert "database is locked" not in out + shell_out

    study = load_study(sqlite_url(tmp_path))
    client = mlflow_client(tmp_path)
    assert_exact_study(study, 5, client)
    assert not failed(study)
    runs = trial_run_list(client, "tiny")
    pinned = {
        r.data.tags["cuda_visible_devices"] for r in runs if r.data.tags["worker_slot"] != "shell"
    }
    assert pinned <= {"7", "5"} and pinned
    assert {r.data.tags["cuda_visible_devices"] for r in runs} <= {"7", "5", "7,5"}
    assert {r.data.tags["lineage.device"] for r in runs} == {"CPU"}
    # The thread rule: 2 workers started together on this host share its cores.
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    for run in runs:
        if run.data.tags["worker_slot"] != "shell":
            assert run.data.tags["tf_threads"] == f"intra={threads} inter=1"
    # Each worker's sampler has its own seed: no two trials drew the same learning rate.
    rates = [t.params["learning_rate"] for t in study.get_trials()]
    assert len(set(rates)) == len(rates)
    assert "registry: tiny-model version" in out
