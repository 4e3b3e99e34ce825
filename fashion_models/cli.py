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

from fashion_models.yaml_source import ConfigError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

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
    from fashion_models.data import DataError
    from fashion_models.study import FatalStudyError

    try:
        action()
    except ConfigError as exc:
        _fail(ctx, exc, EXIT_USAGE)
    except (DataError, FatalStudyError) as exc:
        _fail(ctx, exc, EXIT_FATAL)
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the study is kept; run the same command again to continue", err=True
        )
        ctx.exit(EXIT_INTERRUPTED)


def _fail(ctx: click.Context, exc: Exception, code: int) -> None:
    if ctx.obj.get("debug"):
        raise exc
    click.echo(f"error: {exc}", err=True)
    ctx.exit(code)


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.pass_context
def run(ctx: click.Context, study_file: Path) -> None:
    """Create or join the study in STUDY_FILE and run it to n_trials."""
    _guarded(ctx, lambda: _run(study_file))


def _run(study_file: Path) -> None:
    from fashion_models.config import load_config
    from fashion_models.study import build_pruner, build_sampler

    config = load_config(study_file)
    build_sampler(config), build_pruner(config)  # bad kwargs are user errors: before any write
    from fashion_models.runner import run_study
    from fashion_models.summary import print_summary

    print_summary(config, *run_study(config, echo=click.echo), echo=click.echo)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
