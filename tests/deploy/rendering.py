"""What the deploy tests share: rendering through the CLI as a user would, a study project
with server stores, and reading a rendered Slurm script back into its jobs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from tests.helpers import STORE_OVERRIDES, write_cli_files

REPO = Path(__file__).resolve().parents[2]
PLANTED = "PLANTED-SECRET"
SECRET_STORAGE = f"postgresql+psycopg://u:{PLANTED}@127.0.0.1/x"
SERVER_STORAGE = "postgresql+psycopg://fm@127.0.0.1:5432/optuna"
SERVER_TRACKING = "http://127.0.0.1:5000"


def render(*args: str, env: dict[str, str] | None = None) -> Result:
    """`optuna-run render ARGS` in this process; the store variables only as `env` sets them."""
    from fashion_models.cli import main

    runner = CliRunner(env={**dict.fromkeys(STORE_OVERRIDES), **(env or {})})
    return runner.invoke(main, ["render", *args], catch_exceptions=False)


def server_project(directory: Path, storage: str = SERVER_STORAGE, final: bool = False) -> Path:
    """A study file (and its search space) in `directory` whose stores are servers."""
    study = (
        "study: {name: cli_check, n_trials: 4}\n"
        f"storage: {storage}\n"
        "search_space: spaces/small.yaml\n"
        f"tracking: {{uri: {SERVER_TRACKING!r}}}\n"
    )
    return write_cli_files(directory, study=study + ("final: {epochs: 2}\n" if final else ""))


@dataclass(frozen=True)
class SlurmJob:
    """One `sbatch` of a submit script: its command-line flags and its job script."""

    flags: str
    body: str

    def directives(self) -> list[str]:
        return [
            line.removeprefix("#SBATCH ")
            for line in self.body.splitlines()
            if line.startswith("#SBATCH ")
        ]

    def argv(self) -> list[str]:
        """The command the job execs."""
        (line,) = [line for line in self.body.splitlines() if line.startswith("exec ")]
        return shlex.split(line)[1:]


_SBATCH = re.compile(r"^(\w+)=\$\(sbatch --parsable([^<]*)<<'EOF'\n(.*?)\nEOF\n\)$", re.S | re.M)


def slurm_jobs(script: str) -> dict[str, SlurmJob]:
    """The jobs a submit script sbatches, by the variable that keeps each id."""
    return {m[1]: SlurmJob(m[2].strip(), m[3]) for m in _SBATCH.finditer(script)}
