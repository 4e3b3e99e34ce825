"""The study commands: run, validate, status, report, promote. Parsing and printing only; the
work is in run/ (imported when a command runs, so `--help` and bad input stay fast)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fashion_models.cli.guard import guarded
from fashion_models.errors import FatalError

if TYPE_CHECKING:
    from fashion_models.config.sections import StudyConfig


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes to start on this host (default 1, or one per --gpus entry).",
)
@click.option("--gpus", default=None, help="Pin one worker per listed GPU, e.g. 0,1.")
@click.option(
    "--no-finish",
    is_flag=True,
    help="Run trials only: no final retrain, no registration (a scheduler's worker; "
    "`optuna-run finish` does that once after all of them).",
)
@click.option("--as-worker", is_flag=True, hidden=True)  # a process started by --workers
@click.pass_context
def run(
    ctx: click.Context,
    study_file: Path,
    workers: int | None,
    gpus: str | None,
    no_finish: bool,
    as_worker: bool,
) -> None:
    """Create or join the study in STUDY_FILE and run it to n_trials."""
    guarded(ctx, lambda: _run(ctx, study_file, workers, gpus, as_worker or no_finish))


def _run(
    ctx: click.Context, study_file: Path, workers: int | None, gpus: str | None, worker: bool
) -> None:
    config = _load(study_file)  # before anything imports TensorFlow: bad input stays fast
    from fashion_models.run.workers import GpuListError, parse_gpus, prefixed

    try:
        pinned = parse_gpus(gpus, os.environ) if gpus is not None else []
    except GpuListError as exc:
        raise click.BadParameter(str(exc), param_hint="--gpus") from None
    from fashion_models.cli.output import print_summary
    from fashion_models.run.runner import run_study

    if worker and workers is None and not pinned:  # one worker; finishing is someone else's
        echo = prefixed(click.echo)
        _announce_gpus(echo)
        run_study(config, echo=echo, register=False)
    elif worker:
        raise click.UsageError("--no-finish runs one worker: it takes no --workers or --gpus")
    elif workers is None and not pinned:
        _announce_gpus(click.echo)
        session, promotion = run_study(config, echo=click.echo)
        print_summary(config, session.study, promotion, echo=click.echo)
    else:
        _run_parallel(ctx, config, study_file, workers or len(pinned), pinned)


def _load(study_file: Path) -> StudyConfig:
    """The study file, with every user error in it raised before anything is written
    (including sampler and pruner kwargs that Optuna would reject)."""
    from fashion_models.config.components import check
    from fashion_models.config.study_file import load_config

    config = load_config(study_file)
    check(config)
    return config


def _announce_gpus(echo: Callable[[str], None]) -> None:
    """Configure TensorFlow for this process; with a GPU, say once which one it uses."""
    from fashion_models.train.devices import configure_tensorflow

    gpus = configure_tensorflow()
    if gpus:
        echo(f"training on {', '.join(gpus)}")


def _run_parallel(
    ctx: click.Context, config: StudyConfig, study_file: Path, count: int, gpus: list[str]
) -> None:
    from fashion_models.cli.output import print_summary
    from fashion_models.run.workers import run_parallel

    session, promotion, problems = run_parallel(
        config, study_file, count, gpus, ctx.obj["debug"], echo=click.echo
    )
    print_summary(config, session.study, promotion, echo=click.echo)
    if problems:
        raise FatalError("; ".join(problems))


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.pass_context
def create(ctx: click.Context, study_file: Path) -> None:
    """Create the study in STUDY_FILE and its MLflow side, run no trial (once, before a
    scheduler starts its workers: `run --no-finish`)."""
    guarded(ctx, lambda: _create(study_file))


def _create(study_file: Path) -> None:
    from fashion_models.run.runner import create_study

    create_study(_load(study_file), echo=click.echo)


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.pass_context
def finish(ctx: click.Context, study_file: Path) -> None:
    """Finish the study in STUDY_FILE once its workers are done: figures, the final retrain,
    registration and promotion; then the summary."""
    guarded(ctx, lambda: _finish(study_file))


def _finish(study_file: Path) -> None:
    from fashion_models.cli.output import print_summary
    from fashion_models.run.runner import finish_existing

    config = _load(study_file)
    session, promotion = finish_existing(config, echo=click.echo)
    print_summary(config, session.study, promotion, echo=click.echo)


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--samples", default=3, show_default=True, help="Configurations to sample.")
@click.pass_context
def validate(ctx: click.Context, study_file: Path, samples: int) -> None:
    """Check STUDY_FILE and its search space without training."""
    guarded(ctx, lambda: _validate(study_file, samples))


def _validate(study_file: Path, samples: int) -> None:
    from fashion_models.config.components import PRUNERS, SAMPLERS
    from fashion_models.config.secrets import mask_url
    from fashion_models.run.samples import sample_configurations

    config = _load(study_file)
    sampler = SAMPLERS[config.sampler.type]
    pruner = PRUNERS.get(config.pruner.type, config.pruner.type)  # pareto: our own
    click.echo(f"{study_file}: valid")
    study, space = config.study, config.search_space
    goal = f"{study.direction} {study.metric}"
    if study.multi_objective:
        goal = f"Pareto front of {study.metric} ({study.direction}) and " + ", ".join(
            f"{cost} (minimize)" for cost in study.cost_objectives
        )
    click.echo(f"  study {study.name!r}: {study.n_trials} trials, {goal}")
    click.echo(
        f"  search space {space.path} ({', '.join(space.families)}, {len(space.params)} params)"
    )
    click.echo(f"  sampler {sampler}, pruner {pruner}")
    click.echo(f"  storage {mask_url(config.storage)}; tracking {mask_url(config.tracking.uri)}")
    if config.budget:
        click.echo("  budget " + ", ".join(f"{k} <= {v:g}" for k, v in config.budget.items()))
    for i, (params, count) in enumerate(sample_configurations(config, samples)):
        click.echo(f"  sample {i + 1}: {count}  {params}")


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def status(ctx: click.Context, study_file: Path, as_json: bool) -> None:
    """Trials of the study in STUDY_FILE at a glance, and the best one."""
    guarded(ctx, lambda: _status(study_file, as_json))


def _status(study_file: Path, as_json: bool) -> None:
    from fashion_models.cli.output import status_json, status_table
    from fashion_models.config.study_file import load_config
    from fashion_models.search.queries import status_data
    from fashion_models.search.study import load_existing_study

    config = load_config(study_file)
    data = status_data(config, load_existing_study(config))
    click.echo(status_json(data) if as_json else status_table(data))


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of a designed experiment's report (default: reports/<study name>).",
)
@click.pass_context
def report(ctx: click.Context, study_file: Path, out: Path | None) -> None:
    """Redraw the study figures on the study's MLflow run; for a study with a `design:`
    section, also write its report (report.md, figures, cells.csv)."""
    guarded(ctx, lambda: _report(study_file, out))


def _report(study_file: Path, out: Path | None) -> None:
    from fashion_models.config.study_file import load_config
    from fashion_models.run.report import report as write_report

    write_report(load_config(study_file), echo=click.echo, out=out)


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--trial", type=int, help="Trial number (default: the study's model).")
@click.option("--alias", help="Alias to move (default: registry.alias of the file).")
@click.option("--force", is_flag=True, help="Move the alias even to a worse model.")
@click.option(
    "--stage",
    type=click.Choice(["Staging", "Production"]),
    help="Also transition the (deprecated) stage of the version when the alias moves.",
)
@click.pass_context
def promote(
    ctx: click.Context,
    study_file: Path,
    trial: int | None,
    alias: str | None,
    force: bool,
    stage: str | None,
) -> None:
    """Register a trial's model and move the alias if it beats the current holder."""
    guarded(ctx, lambda: _promote(study_file, trial, alias, force, stage))


def _promote(
    study_file: Path, trial: int | None, alias: str | None, force: bool, stage: str | None
) -> None:
    from fashion_models.cli.output import promotion_line
    from fashion_models.config.study_file import load_config
    from fashion_models.run.promotion import promote_study_model

    config = load_config(study_file)
    p = promote_study_model(config, trial, alias or config.registry.alias, force=force, stage=stage)
    click.echo(promotion_line(p))
