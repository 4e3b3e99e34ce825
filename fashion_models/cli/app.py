"""The `optuna-run` command group: `optuna-run FILE` runs the study, sub-commands do the rest."""

from __future__ import annotations

from typing import Any

import click

from fashion_models.cli import proxy_commands, render_commands, serving_commands, study_commands


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
    optuna-run report STUDY.yaml     redraw the study figures; write a design's report
    optuna-run promote STUDY.yaml    move the alias to a better model (--trial, --force)
    optuna-run create / run --no-finish / finish STUDY.yaml   the same study, split for
                                     schedulers: create once, N workers, finish once
    optuna-run serve --catalog STOCK.csv   the shop's HTTP service (page, classify, similar)
    optuna-run render slurm|k8s STUDY.yaml   a Slurm script or Kubernetes manifests for it
    optuna-run storage-proxy --storage URL --port P   serve one database to many workers
    """
    ctx.obj = {"debug": debug}


for _command in (
    study_commands.run,
    study_commands.create,
    study_commands.finish,
    study_commands.validate,
    study_commands.status,
    study_commands.report,
    study_commands.promote,
    serving_commands.predict,  # serving the shop: see fashion_models.serving
    serving_commands.catalog,
    serving_commands.similar,
    serving_commands.serve,
    render_commands.render,  # running on a cluster: see fashion_models.deploy
    proxy_commands.storage_proxy,  # many workers, one database: see fashion_models.search.proxy
):
    main.add_command(_command)
