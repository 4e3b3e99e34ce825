"""The study on a real Slurm cluster (tests/slurm.py: slurmctld and two slurmd nodes on
loopback): the script `optuna-run render slurm` writes, submitted with sbatch as a user
would, against the local PostgreSQL server and a local `mlflow server`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from fashion_models.search.queries import best_completed_trial
from tests.helpers import (
    BIN,
    OPTUNA_RUN,
    assert_exact_study,
    cli_env,
    free_port,
    load_study,
    serving,
    trial_run_list,
    write_study,
)
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


def test_the_rendered_study_runs_on_the_cluster(
    cluster: SlurmCluster, tmp_path: Path, pg_url: str, pg_databases: Callable[[], str]
) -> None:
    # The recipe end to end: render, submit with bash on the "login node", 2 worker
    # tasks on 2 nodes against PostgreSQL and an MLflow server, then one finish job.
    port = free_port()
    tracking = f"http://127.0.0.1:{port}"
    server = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
              "--workers", "1", "--backend-store-uri", pg_databases(),
              "--artifacts-destination", f"{tmp_path}/server/artifacts"]  # fmt: skip
    with serving(server, f"{tracking}/health", tmp_path / "mlflow.log", timeout=120):
        path = write_study(tmp_path, n_trials=4)
        script = tmp_path / "study.slurm.sh"
        env = {**cli_env(), "SLURM_CONF": cluster.env["SLURM_CONF"],
               "OPTUNA_STORAGE": pg_url, "MLFLOW_TRACKING_URI": tracking}  # fmt: skip
        rendered = subprocess.run(
            [OPTUNA_RUN, "render", "slurm", str(path), "--workers", "2", "--out", str(script)],
            env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert rendered.returncode == 0, rendered.stdout + rendered.stderr
        submitted = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, cwd=tmp_path,
            timeout=120,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        cluster.wait_until_idle(timeout=900)
        logs = "\n".join(f"== {p.name}\n{p.read_text()}" for p in sorted(tmp_path.rglob("*.log")))

        mlflow.set_tracking_uri(tracking)
        client = MlflowClient()
        study = load_study(pg_url)
        assert_exact_study(study, 4, client)  # exactly n_trials, one run per trial
        nodes = {run.data.tags.get("slurm_node") for run in trial_run_list(client, "tiny")}
        assert nodes == {"node1", "node2"}, logs  # the two worker tasks ran on both nodes
        [model] = client.search_registered_models()  # the finish job registered once
        versions = client.search_model_versions(f"name='{model.name}'")
        assert len(versions) == 1, logs
        champion = client.get_model_version_by_alias(model.name, "champion")
        # Seen twice in a loaded machine's suite (2026-12-07), not alone: the version's trial tag
        # named another trial than the finish job printed. The version and the runs say more.
        runs = {r.info.run_id: r.info.run_name for r in trial_run_list(client, "tiny")}
        best = str(best_completed_trial(study).number)
        assert champion.tags["optuna.trial"] == best, (champion, runs, logs)
