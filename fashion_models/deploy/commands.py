"""The argv a cluster runs for a study, one function per step, shared by every renderer: the
Slurm worker task and the Kubernetes worker container run exactly the same command.

`study_file` is the study file as the job names it (relative to the directory the job runs
in, where it can be); `program` is `optuna-run` as found there (Slurm: the rendering
environment's, by absolute path; the image: on its PATH).
"""

from __future__ import annotations

import shlex

PROGRAM = "optuna-run"


def create_command(study_file: str, program: str = PROGRAM) -> list[str]:
    """Create the stores, the study, its MLflow experiment and study run; no trial.
    Idempotent: run once before the workers so that they never race to create the study."""
    return [program, "create", study_file]


def worker_command(study_file: str, program: str = PROGRAM) -> list[str]:
    """One worker: join the study and run trials until it holds n_trials; no final retrain,
    no registration (that is the finish step's, once)."""
    return [program, "run", "--no-finish", study_file]


def finish_command(study_file: str, program: str = PROGRAM) -> list[str]:
    """Once after the workers: study figures, final retrain (with `final:`), registration of
    the best model and the promotion rule; prints the summary."""
    return [program, "finish", study_file]


def thread_environment(threads: str) -> dict[str, str]:
    """A worker's environment for `threads` CPUs (a number, or a shell expression that gives
    one): the rule of train/devices.py, all intra-op threads and one inter-op thread."""
    return {
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": threads,
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",  # several processes may share a GPU's memory
        "PYTHONUNBUFFERED": "1",  # progress lines reach the log as they come
    }


def wait_for_study_command(study_file: str, poll_s: int = 10, program: str = PROGRAM) -> list[str]:
    """Return once the study exists: `status` exits 2 on a study not created yet (1 on a store
    not reachable yet), 0 once it is there. Kubernetes has no job dependencies."""
    status = shlex.join([program, "status", "--json", study_file])
    return ["sh", "-c", f"until {status} >/dev/null; do sleep {poll_s}; done"]


# Reads `optuna-run status --json` on stdin; exits 0 once complete + pruned >= n_trials, the
# condition at which every worker stops.
_FINISHED = (
    "import json, sys; s = json.load(sys.stdin); c = s['counts']; "
    "sys.exit(c.get('COMPLETE', 0) + c.get('PRUNED', 0) < s['n_trials'])"
)


def wait_for_trials_command(study_file: str, poll_s: int = 60, program: str = PROGRAM) -> list[str]:
    """Return once the study holds n_trials complete or pruned trials, i.e. when the workers
    are done (a failed trial does not count, so a worker replaces it first)."""
    status = shlex.join([program, "status", "--json", study_file])
    check = shlex.join(["python3", "-c", _FINISHED])
    return ["sh", "-c", f"until {status} | {check}; do sleep {poll_s}; done"]
