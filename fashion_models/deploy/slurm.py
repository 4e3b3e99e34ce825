"""A Slurm submit script for a study: `bash SCRIPT` on a login node submits a create job, a job
array of N workers after it, and a finish job after the array, and prints their ids.

Every job runs `optuna-run` of the rendering environment by absolute path, in the project
directory: the cluster is assumed to share this filesystem (the usual set-up of a Slurm
cluster: home and project directories on NFS or a parallel filesystem).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from fashion_models.deploy.commands import (
    create_command,
    finish_command,
    thread_environment,
    worker_command,
)
from fashion_models.deploy.plan import Plan, RenderError
from fashion_models.deploy.stores import STORAGE_VAR, TRACKING_VAR, StoreSetting

# Slurm reads #SBATCH lines itself (no shell) and expands % in --output: paths stay plain.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+,=@-]+")
# Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
TIME_LIMIT = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}")
PARTITION = re.compile(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*")
_DELIMITER = "EOF"


@dataclass(frozen=True)
class SlurmOptions:
    program: Path  # absolute path of optuna-run on the shared filesystem
    partition: str | None = None  # --partition of every job (None: the cluster's default)
    time_limit: str | None = None  # --time of every job (None: the partition's default)


def job_name(study_name: str) -> str:
    """The study name as Slurm job names and log files carry it."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", study_name).strip("-") or "study"


def logs_dir(plan: Plan) -> Path:
    return plan.project_dir / "slurm-logs" / job_name(plan.study_name)


def render_slurm(
    plan: Plan,
    options: SlurmOptions,
    stores: tuple[StoreSetting, StoreSetting],
    rendered_by: str,
) -> str:
    """The submit script, as text (bash)."""
    _check(plan, options)
    study = plan.relative_study_file() or str(plan.study_file)
    program, logs = str(options.program), logs_dir(plan)
    lines = [
        *_header(plan, study, program, rendered_by),
        "set -euo pipefail",
        "",
        f"project={shlex.quote(str(plan.project_dir))}",
        f"optuna_run={shlex.quote(program)}",
        f"logs={shlex.quote(str(logs))}",
        "",
        *_stores(stores),
        "",
        "if [[ ! -x $optuna_run ]]; then",
        '  echo "error: $optuna_run is not an executable here; render again with --optuna-run'
        ' PATH" >&2',
        "  exit 2",
        "fi",
        'mkdir -p "$logs"',
        'cd "$project"',
        "",
        *_submissions(plan, options, study, program),
        'echo "logs=$logs"',
    ]
    return "\n".join(lines) + "\n"


def _submissions(plan: Plan, options: SlurmOptions, study: str, program: str) -> list[str]:
    """The three sbatch calls, each job's id kept for the next one's dependency."""
    name, logs = job_name(plan.study_name), logs_dir(plan)
    trains = _resources(options, plan.cpus_per_worker, plan.gpus_per_worker)
    light = _resources(options, 1, 0)  # bookkeeping only
    create = _job(f"{name}-create", f"{logs}/create-%j.log", plan, light)
    array = f"#SBATCH --array=0-{plan.workers - 1}"
    workers = _job(f"{name}-worker", f"{logs}/worker-%A_%a.log", plan, [array, *trains])
    # The finish job trains like a worker when the file asks for a final retrain.
    finish_resources = trains if plan.final_retrain else light
    finish = _job(f"{name}-finish", f"{logs}/finish-%j.log", plan, finish_resources)
    after = " --kill-on-invalid-dep=yes --dependency="
    return [
        "# The study is created once, before any worker starts.",
        *_submit("create", "", [*create, _exec(create_command(study, program))]),
        "# One worker per array task, once the study exists; each joins the study and runs trials",
        "# until it holds n_trials.",
        *_submit(
            "workers",
            f'{after}"afterok:$create"',
            [*workers, *_threads(), _exec(worker_command(study, program))],
        ),
        "# Once every worker has ended, whatever its end: figures, final retrain, registration and",
        "# promotion, once. Not at all if the study could not be created.",
        *_submit(
            "finish",
            f'{after}"afterok:$create,afterany:$workers"',
            [*finish, *_threads(), _exec(finish_command(study, program))],
        ),
    ]


def _check(plan: Plan, options: SlurmOptions) -> None:
    """Options Slurm would reject, or misread, named before anything is written."""
    if options.time_limit is not None and not TIME_LIMIT.fullmatch(options.time_limit):
        raise RenderError(
            "--time: expected a Slurm time limit (HH:MM:SS, MM, MM:SS, D-HH, D-HH:MM or "
            f"D-HH:MM:SS), found {options.time_limit!r}"
        )
    if options.partition is not None and not PARTITION.fullmatch(options.partition):
        raise RenderError(
            f"--partition: expected a partition name (or several, comma-separated), found "
            f"{options.partition!r}"
        )
    program = options.program
    if not (program.is_file() and os.access(program, os.X_OK)):
        raise RenderError(f"--optuna-run: expected an executable file, found {program}")
    for what, path in (("--project-dir", plan.project_dir), ("--optuna-run", program)):
        if not _PLAIN_PATH.fullmatch(str(path)):
            raise RenderError(
                f"{what}: Slurm's #SBATCH lines take plain paths (letters, digits, _ . / + , = "
                f"@ -), found {str(path)!r}"
            )


def _header(plan: Plan, study: str, program: str, rendered_by: str) -> list[str]:
    gpus = f", {plan.gpus_per_worker} GPU(s) each" if plan.gpus_per_worker else ""
    return [
        "#!/usr/bin/env bash",
        f"# Study {plan.study_name!r} ({study}) on Slurm, rendered by",
        f"#   {rendered_by}",
        "# Run once on a login node: `bash THIS_FILE`. It submits three jobs and prints their ids:",
        "#   create   `optuna-run create`: the stores, the study, its MLflow run; no trial",
        f"#   workers  a job array of {plan.workers} tasks, one worker each"
        f" ({plan.cpus_per_worker} CPU(s){gpus}),",
        "#            after create succeeded (afterok)",
        "#   finish   after every worker ended, whatever its end (afterany): `optuna-run finish`",
        "# The cluster must share this filesystem: every job runs",
        f"#   {program}",
        f"# in {plan.project_dir}, and writes its log under slurm-logs/ there.",
        f"# Stores: {STORAGE_VAR} and {TRACKING_VAR} come from the environment this script runs in",
        "# (each job gets it: --export=ALL). A URI that holds a password is never written here.",
        "# Credentials reach the jobs the same way, never through this file: export the files",
        "# that hold them (only their paths travel), e.g. OPTUNA_PROXY_TOKEN_FILE,",
        "# OPTUNA_PROXY_CA_FILE, OPTUNA_PROXY_CLIENT_CERT_FILE / _KEY_FILE,",
        "# MLFLOW_TRACKING_USERNAME with MLFLOW_TRACKING_PASSWORD_FILE, PGPASSFILE and",
        "# PGSSLROOTCERT, on the shared filesystem, readable by your user only.",
    ]


def _stores(stores: tuple[StoreSetting, StoreSetting]) -> list[str]:
    lines = []
    for setting in stores:
        var = setting.variable
        if setting.default is None:
            lines += [
                f"if [[ -z ${{{var}:-}} ]]; then",
                f'  echo "error: {var} must be set when this script runs'
                f' ({setting.why_required})" >&2',
                "  exit 2",
                "fi",
            ]
        else:
            default = f"default_{var.lower()}"
            lines.append(f"{default}={shlex.quote(setting.default)}")
            lines.append(f'{var}="${{{var}:-${default}}}"')
        lines.append(f"export {var}")
    return [
        *lines,
        "# Workers on several nodes cannot share a SQLite or journal file (optuna#6036).",
        f"for var in {' '.join(s.variable for s in stores)}; do",
        "  if [[ ${!var,,} == sqlite* || ${!var} != *://* ]]; then",
        '    echo "error: $var names a file on one host (SQLite or journal file): workers on'
        ' several nodes need a database or tracking server" >&2',
        "    exit 2",
        "  fi",
        "done",
    ]


def _resources(options: SlurmOptions, cpus: int, gpus: int) -> list[str]:
    lines = ["#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={cpus}"]
    if gpus:
        lines.append(f"#SBATCH --gres=gpu:{gpus}")
    if options.partition:
        lines.append(f"#SBATCH --partition={options.partition}")
    if options.time_limit:
        lines.append(f"#SBATCH --time={options.time_limit}")
    return lines


def _job(name: str, log: str, plan: Plan, resources: list[str]) -> list[str]:
    """A job script's head: its name, directory, log file, environment and resources."""
    return [
        "#!/usr/bin/env bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --chdir={plan.project_dir}",
        f"#SBATCH --output={log}",
        "#SBATCH --export=ALL",
        *resources,
        "set -euo pipefail",
    ]


def _threads() -> list[str]:
    """TensorFlow's thread pools sized to the task's CPUs (train/devices.py reads them)."""
    env = thread_environment("${SLURM_CPUS_PER_TASK:-1}")
    return [
        "# TensorFlow's thread pools: this task's CPUs (fashion_models/train/devices.py).",
        *(f'export {name}="{value}"' for name, value in env.items()),
    ]


def _exec(argv: list[str]) -> str:
    return "exec " + shlex.join(argv)


def _submit(variable: str, flags: str, body: list[str]) -> list[str]:
    """`variable=$(sbatch ... <<'EOF' body EOF)`: the job script on stdin, quoted (nothing in
    it expands now), the job id kept (--parsable prints `id` or `id;cluster`)."""
    return [
        f"{variable}=$(sbatch --parsable{flags} <<'{_DELIMITER}'",
        *body,
        _DELIMITER,
        ")",
        f"{variable}=${{{variable}%%;*}}",
        f'echo "{variable}=${variable}"',
        "",
    ]
