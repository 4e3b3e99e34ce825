"""The study on a real Slurm cluster (tests/slurm.py: slurmctld and two slurmd nodes on
loopback): the script `optuna-run render slurm` writes, submitted with sbatch as a user
would, against the local PostgreSQL server and a local `mlflow server`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slurm import SlurmCluster, missing_binaries, slurm_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    missing = missing_binaries()
    if missing:
        pytest.fail(f"Slurm is not installed ({', '.join(missing)} missing): run `make setup`")
    if os.geteuid() != 0:
        pytest.skip("Slurm's daemons run as root here (SlurmUser=root); run the tests as root")
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as started:
        yield started


def test_an_array_spreads_over_both_nodes(cluster: SlurmCluster, tmp_path: Path) -> None:
    job = cluster.run(
        "sbatch", "--parsable", "--array=0-3", f"--output={tmp_path}/task-%a.txt",
        "--wrap", "echo $SLURM_ARRAY_TASK_ID $SLURMD_NODENAME; sleep 1",
    ).strip()  # fmt: skip
    cluster.wait_until_idle(timeout=120)
    lines = sorted((tmp_path / f"task-{i}.txt").read_text().split() for i in range(4))
    assert [task for task, _ in lines] == ["0", "1", "2", "3"]
    assert {node for _, node in lines} == {"node1", "node2"}
    assert cluster.job_state(f"{job}_0") == "COMPLETED"
