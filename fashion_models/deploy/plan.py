"""What a renderer is asked for: one study, N workers, what each worker gets, and where the
jobs run. Built by the `render` commands from the loaded study file and their options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fashion_models.errors import UserError


class RenderError(UserError):
    """An option or a study file that a cluster cannot run: exit 2, nothing written."""


@dataclass(frozen=True)
class Plan:
    study_name: str  # study.name of the file
    study_file: Path  # absolute
    search_space_file: Path  # absolute; the image must hold it too
    project_dir: Path  # absolute: where every job runs (Slurm --chdir, the image's WORKDIR)
    workers: int  # worker processes, one per Slurm array task or Kubernetes pod
    cpus_per_worker: int = 1  # CPUs each (and TensorFlow threads)
    gpus_per_worker: int = 0  # GPUs each; 0 = CPU only
    final_retrain: bool = False  # the file has `final:`: the finish step trains like a worker

    def relative_study_file(self) -> str | None:
        """The study file relative to the project directory; None when it lies outside."""
        try:
            return self.study_file.relative_to(self.project_dir).as_posix()
        except ValueError:
            return None
