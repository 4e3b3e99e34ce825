"""`optuna-run`: argument parsing, exit codes and printing only.

Exit codes: 0 done; 1 fatal error (data, storage, too many failures); 2 bad input (one
message, nothing written); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fashion_models.serving.commands import catalog, predict, similar
from fashion_models.yaml_source import ConfigError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# MLflow's download progress bars and INFO lines would drown the per-trial lines.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

EXIT_FATAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class StudyCommandGroup(click.Group):
    """`optuna-run FILE` is short for `optuna-run run FILE`."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "run")
        return super().resolve_command(ctx, args)


@click.group(cls=StudyCommandGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Hyperparameter studies for the Fashion-MNIST garment classifier.

    \b
    optuna-run STUDY.yaml            run (or continue) the study
    optuna-run validate STUDY.yaml   check the files, print sample configurations
    optuna-run status STUDY.yaml     the trials at a glance (--json for scripts)
    optuna-run report STUDY.yaml     redraw the study figures on its MLflow run
    optuna-run promote STUDY.yaml    move the alias to a better model (--trial, --force)
    """
    ctx.obj = {"debug": debug}


def _guarded(ctx: click.Context, action: Callable[[], None]) -> None:
    """Turn the three kinds of failure into one line and an exit code."""
    from mlflow.exceptions import MlflowException

    from fashion_models.data import DataError
    from fashion_models.locks import LockTimeout
    from fashion_models.study import FatalStudyError

    try:
        action()
    except ConfigError as exc:
        _fail(ctx, exc, EXIT_USAGE)
    except (DataError, FatalStudyError, LockTimeout) as exc:
        _fail(ctx, exc, EXIT_FATAL)
    except MlflowException as exc:  # e.g. a tracking server that cannot be reached
        _fail(ctx, FatalStudyError(f"MLflow: {exc.message}"), EXIT_FATAL)
    except KeyboardInterrupt as exc:
        # 130 for SIGINT (Ctrl-C), 143 for SIGTERM (recovery.Interrupted carries which).
        code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
        click.echo(
            f"interrupted{f' ({exc})' if str(exc) else ''}: the study is kept; "
            "run the same command again to continue",
            err=True,
        )
        ctx.exit(code)


def _fail(ctx: click.Context, exc: Exception, code: int) -> None:
    if ctx.obj.get("debug"):
        raise exc
    click.echo(f"error: {exc}", err=True)
    ctx.exit(code)


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes to start on this host (default 1, or one per --gpus entry).",
)
@click.option("--gpus", default=None, help="Pin one worker per listed GPU, e.g. 0,1.")
@click.option("--as-worker", is_flag=True, hidden=True)  # a process started by --workers
@click.pass_context
def run(
    ctx: click.Context, study_file: Path, workers: int | None, gpus: str | None, as_worker: bool
) -> None:
    """Create or join the study in STUDY_FILE and run it to n_trials."""
    _guarded(ctx, lambda: _run(ctx, study_file, workers, gpus, as_worker))


def _run(
    ctx: click.Context, study_file: Path, workers: int | None, gpus: str | None, as_worker: bool
) -> None:
    from fashion_models.config import load_config
    from fashion_models.study import build_pruner, build_sampler
    from fashion_models.workers import GpuListError, configure_tensorflow, parse_gpus, prefixed

    config = load_config(study_file)
    build_sampler(config), build_pruner(config)  # bad kwargs are user errors: before any write
    try:
        pinned = parse_gpus(gpus, os.environ) if gpus is not None else []
    except GpuListError as exc:
        raise click.BadParameter(str(exc), param_hint="--gpus") from None
    from fashion_models.runner import run_study
    from fashion_models.summary import print_summary

    if as_worker:
        configure_tensorflow()
        run_study(config, echo=prefixed(click.echo), register=False)
    elif workers is None and not pinned:
        configure_tensorflow()
        print_summary(config, *run_study(config, echo=click.echo), echo=click.echo)
    else:
        _run_parallel(ctx, config, study_file, workers or len(pinned), pinned)


def _run_parallel(
    ctx: click.Context, config: Any, study_file: Path, count: int, gpus: list[str]
) -> None:
    from fashion_models.study import FatalStudyError
    from fashion_models.summary import print_summary
    from fashion_models.workers import run_parallel

    study, promotion, problems = run_parallel(
        config, study_file, count, gpus, ctx.obj["debug"], echo=click.echo
    )
    print_summary(config, study, promotion, echo=click.echo)
    if problems:
        raise FatalStudyError("; ".join(problems))


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--samples", default=3, show_default=True, help="Configurations to sample.")
@click.pass_context
def validate(ctx: click.Context, study_file: Path, samples: int) -> None:
    """Check STUDY_FILE and its search space without training."""
    _guarded(ctx, lambda: _validate(study_file, samples))


def _validate(study_file: Path, samples: int) -> None:
    from fashion_models.config import load_config
    from fashion_models.study import build_pruner, build_sampler
    from fashion_models.summary import sample_configurations

    config = load_config(study_file)
    sampler, pruner = build_sampler(config), build_pruner(config)
    click.echo(f"{study_file}: valid")
    study, space = config.study, config.search_space
    click.echo(f"  study {study.name!r}: {study.n_trials} trials, {study.direction} {study.metric}")
    click.echo(f"  search space {space.path} ({space.model}, {len(space.params)} params)")
    click.echo(f"  sampler {type(sampler).__name__}, pruner {type(pruner).__name__}")
    click.echo(f"  storage {config.storage}; tracking {config.tracking.uri}")
    for i, (params, count) in enumerate(sample_configurations(config, samples)):
        click.echo(f"  sample {i + 1}: {count}  {params}")


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def status(ctx: click.Context, study_file: Path, as_json: bool) -> None:
    """Trials of the study in STUDY_FILE at a glance, and the best one."""
    _guarded(ctx, lambda: _status(study_file, as_json))


def _status(study_file: Path, as_json: bool) -> None:
    from fashion_models.config import load_config
    from fashion_models.status import load_existing_study, status_data, status_json, status_table

    config = load_config(study_file)
    data = status_data(config, load_existing_study(config))
    click.echo(status_json(data) if as_json else status_table(data))


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.pass_context
def report(ctx: click.Context, study_file: Path) -> None:
    """Redraw the study figures on the study's MLflow run."""
    _guarded(ctx, lambda: _report(study_file))


def _report(study_file: Path) -> None:
    from fashion_models.commands import report as refresh
    from fashion_models.config import load_config

    refresh(load_config(study_file), echo=click.echo)


@main.command()
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
    _guarded(ctx, lambda: _promote(study_file, trial, alias, force, stage))


def _promote(
    study_file: Path, trial: int | None, alias: str | None, force: bool, stage: str | None
) -> None:
    from fashion_models.commands import promote_study_model
    from fashion_models.config import load_config

    config = load_config(study_file)
    p = promote_study_model(config, trial, alias or config.registry.alias, force=force, stage=stage)
    holder = "now holds" if p.promoted else "does not take"
    click.echo(
        f"registry: {p.model_name} version {p.version} (trial {p.trial}, test accuracy "
        f"{p.test_accuracy:.4f}) {holder} @{p.alias}: {p.reason}"
    )


for _command in (predict, catalog, similar):  # serving the shop: see fashion_models.serving
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
