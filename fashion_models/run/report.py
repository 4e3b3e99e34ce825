"""`optuna-run report`: redraw a study's figures on its MLflow run and, for a designed
experiment, write its report (report.md, figures, cells.csv) into a folder and onto the run."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from fashion_models.analysis import markdown
from fashion_models.analysis.answer import Question, answer
from fashion_models.analysis.cells import METRICS, Cell, Run, build_cells
from fashion_models.analysis.figures import FIGURES
from fashion_models.config.design import DesignSection
from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig
from fashion_models.errors import FatalError
from fashion_models.search.study import load_existing_study
from fashion_models.track.experiment import open_tracking
from fashion_models.track.lineage import git_commit
from fashion_models.track.study_run import ensure_study_run, refresh_study_run


def report(
    config: StudyConfig, echo: Callable[[str], None] = print, out: Path | None = None
) -> list[str]:
    """Redraw the study figures on the study run (created if the study predates it); with a
    `design:`, write its report into `out` (default reports/<study name>/) too."""
    study = load_existing_study(config)
    run_id = ensure_study_run(study, open_tracking(config), config)
    written = refresh_study_run(study, config, run_id)
    echo(
        f"study run {run_id} in experiment {config.tracking.experiment!r} "
        f"at {mask_url(config.tracking.uri)}"
    )
    for name in written:
        echo(f"  {name}")
    if config.design is not None:
        folder = out or Path("reports") / config.study.name
        sentences = write_design_report(config, config.design, study, run_id, folder)
        echo(f"design report: {folder / 'report.md'}")
        for sentence in sentences:
            echo(f"  {sentence}")
    return written


def design_runs(study: optuna.Study, design: DesignSection) -> list[Run]:
    """The complete trials of the design, each with its network (family and level), seed and
    per-epoch history; one per (network, seed): a repeated one (e.g. a grid point run twice)
    is the same model again and would count one seed twice, so the first is kept."""
    runs: dict[tuple[Any, Any, int], Run] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "history" not in t.user_attrs or design.factor not in t.params:
            continue
        if design.family is not None and design.family not in t.params:
            continue
        run = Run(
            level=t.params[design.factor],
            seed=int(t.user_attrs["seed"]),
            param_count=int(t.user_attrs["param_count"]),
            history=t.user_attrs["history"],
            family=None if design.family is None else t.params[design.family],
        )
        runs.setdefault((run.family, run.level, run.seed), run)
    return list(runs.values())


def design_question(design: DesignSection) -> Question:
    return Question(
        factor=design.factor,
        reference_level=design.reference,
        reference_epochs=design.reference_epochs,
        time_key=design.time_key,
        margin=design.margin,
        family=design.family,
        reference_family=design.reference_family,
        families=design.families,
    )


def write_design_report(
    config: StudyConfig, design: DesignSection, study: optuna.Study, run_id: str, out: Path
) -> list[str]:
    """Write report.md, the figures and cells.csv into `out` and log them on the study run
    under design/; returns the verdicts' sentences and the advice."""
    runs = design_runs(study, design)
    cells = build_cells(runs, design.levels, design.epochs, design.families)
    try:
        result = answer(cells, design_question(design))
    except ValueError as exc:  # e.g. the reference cell has no complete run yet
        raise FatalError(f"cannot write the design report of {config.path}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        draw(cells, result).savefig(out / name, dpi=110)
    _write_csv(cells, design, out / "cells.csv")
    about = _provenance(config, study, runs)
    factors = design.factor if design.family is None else f"{design.family} x {design.factor}"
    title = f"{config.study.name}: {factors} against epochs"
    (out / "report.md").write_text(markdown.report(result, cells, about, title))
    MlflowClient().log_artifacts(run_id, str(out), "design")
    return [*(a.sentence for a in result.families), result.epochs_sentence, result.advice]


def _write_csv(cells: list[Cell], design: DesignSection, path: Path) -> None:
    family = [] if design.family is None else [design.family]
    names = sorted({m for c in cells for m in c.values}, key=lambda m: (m not in METRICS, m))
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*family, design.factor, "epochs", "seed", *names])
        for c in cells:
            first = [] if design.family is None else [c.family]
            for i, seed in enumerate(c.seeds):
                row = [f"{float(c.values[m][i]):.6g}" if m in c.values else "" for m in names]
                writer.writerow([*first, c.level, c.epochs, seed, *row])


def _provenance(config: StudyConfig, study: optuna.Study, runs: list[Run]) -> dict[str, str]:
    storage = mask_url(config.storage)
    commits = _trial_commits(study)
    seeds = sorted({r.seed for r in runs})
    return {
        "study": f"{config.study.name!r} in {storage} ({len(runs)} complete runs, seeds {seeds})",
        "study file": str(config.path),
        "trials trained at commit": ", ".join(commits) or "unknown",
        "report written by": f"`optuna-run report {config.path}` at commit {git_commit()}",
    }


def _trial_commits(study: optuna.Study) -> list[str]:
    """The project commits the trials trained at: their `git_commit` attr, else the tag
    lineage.git_commit of their MLflow run (trials from before the attr), else unknown."""
    client, commits = MlflowClient(), set()
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        commit = t.user_attrs.get("git_commit")
        run_id = t.user_attrs.get("mlflow_run_id")
        if commit is None and run_id:
            try:
                commit = client.get_run(run_id).data.tags.get("lineage.git_commit")
            except MlflowException:  # the run is in another tracking store
                commit = None
        commits.add(str(commit or "unknown"))
    return sorted(commits)
