"""Tests for fashion_models.train.devices: the thread rule that workers on one host share."""

from __future__ import annotations

import pytest

from fashion_models.train.devices import scheduler_tags, threads_per_worker


@pytest.mark.parametrize(
    ("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8), (3, 16, 5)]
)
def test_thread_rule_shares_the_cores(workers: int, cores: int, threads: int) -> None:
    assert threads_per_worker(workers, cores) == threads


@pytest.mark.parametrize(
    ("env", "tags"),
    [
        ({}, {}),
        (
            {"SLURM_JOB_ID": "42", "SLURM_ARRAY_JOB_ID": "40", "SLURM_ARRAY_TASK_ID": "2",
             "SLURMD_NODENAME": "node2"},
            {"slurm_job": "40_2", "slurm_node": "node2"},
        ),
        (
            {"SLURM_JOB_ID": "7", "SLURMD_NODENAME": "gpu01"},
            {"slurm_job": "7", "slurm_node": "gpu01"},
        ),
        ({"JOB_COMPLETION_INDEX": "3"}, {"k8s_job_index": "3"}),
    ],
)  # fmt: skip
def test_scheduler_tags_say_where_a_job_placed_the_worker(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tags: dict[str, str]
) -> None:
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURMD_NODENAME",
                 "JOB_COMPLETION_INDEX"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert scheduler_tags() == tags
