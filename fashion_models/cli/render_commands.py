"""`optuna-run render slurm|k8s STUDY.yaml`: what runs a study on a cluster, as files to read,
then submit or apply (the work is in fashion_models.deploy, imported when a command runs).
Renders only: submits nothing, starts nothing."""

from __future__ import annotations

import os
import shlex
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fashion_models.cli.guard import guarded

if TYPE_CHECKING:
    from fashion_models.config.sections import StudyConfig
    from fashion_models.deploy.plan import Plan

_SHARED_OPTIONS = [
    click.argument("study_file", type=click.Path(path_type=Path)),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        required=True,
        help="Worker processes, one per Slurm array task or pod.",
    ),
    click.option(
        "--gpus-per-worker",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="GPUs each worker gets (0: CPU only); the finish step too when it retrains.",
    ),
    click.option(
        "--cpus-per-worker",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="CPUs each worker gets; TensorFlow runs as many threads.",
    ),
    click.option(
        "--project-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Where the jobs run: Slurm's working directory, the image's WORKDIR. "
        "Default: the current directory (where you would run optuna-run yourself).",
    ),
]


def _shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options both renderers take, in the same words."""
    for option in reversed(_SHARED_OPTIONS):
        command = option(command)
    return command


@click.group()
def render() -> None:
    """Write what runs a study on a cluster: a Slurm script or Kubernetes manifests.

    \b
    optuna-run render slurm STUDY.yaml --workers N                a script that sbatches it
    optuna-run render k8s STUDY.yaml --workers N --image IMAGE    plain manifests

    Both run the same commands: `optuna-run create` once, N workers `optuna-run run
    --no-finish`, then `optuna-run finish` once (figures, final retrain, registration,
    promotion). No password of a store URI is ever written or printed.
    """


@render.command()
@_shared_options
@click.option("--partition", help="Partition of every job (default: the cluster's).")
@click.option(
    "--time",
    "time_limit",
    help="Time limit of every job, e.g. 04:00:00 (any Slurm format; default: the partition's).",
)
@click.option(
    "--optuna-run",
    "program",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The optuna-run every job runs, on the shared filesystem (default: this one).",
)
@click.option(
    "--stores-from-env",
    is_flag=True,
    help="Write no store URI: the script requires OPTUNA_STORAGE and MLFLOW_TRACKING_URI "
    "in the environment it runs in.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the script to this file (default: print it).",
)
@click.pass_context
def slurm(ctx: click.Context, **options: Any) -> None:
    """A bash script that submits STUDY_FILE to Slurm: `bash SCRIPT` on a login node.

    It sbatches a create job, a job array of --workers tasks after it (afterok), one worker
    each, and a finish job after the array (afterany), and prints their ids. Every job runs
    this environment's optuna-run, by absolute path, in --project-dir: the cluster must
    share this filesystem. Logs: slurm-logs/<study>/ there, one file per task.

    Stores: OPTUNA_STORAGE and MLFLOW_TRACKING_URI are read from the environment when the
    script runs (sbatch passes it on to every job). The URI optuna-run would use now (the
    variable if set, else the file's storage: or tracking.uri:) is written in as their
    default only when it holds no password; with a password the script stops unless the
    variable is set. A SQLite file or a journal file cannot be shared by workers on several
    nodes (its locks break over NFS: optuna#6036): such a URI is refused (exit 2) unless
    --stores-from-env is given, and the script refuses one from the environment too.
    """
    guarded(ctx, lambda: _slurm(ctx, **options))


def _slurm(
    ctx: click.Context,
    study_file: Path,
    partition: str | None,
    time_limit: str | None,
    program: Path | None,
    stores_from_env: bool,
    out: Path | None,
    **shared: Any,
) -> None:
    from fashion_models.config.secrets import mask_url
    from fashion_models.deploy.slurm import SlurmOptions, render_slurm
    from fashion_models.deploy.stores import STORAGE_VAR, TRACKING_VAR, store_setting

    config, plan = _plan(study_file, **shared)
    program = (program or Path(sysconfig.get_path("scripts")) / "optuna-run").absolute()
    storage, tracking = (
        store_setting(var, uri, _source(study_file, var, key), stores_from_env)
        for var, uri, key in (
            (STORAGE_VAR, config.storage, "storage"),
            (TRACKING_VAR, config.tracking.uri, "tracking.uri"),
        )
    )
    options = SlurmOptions(program, partition, time_limit)
    script = render_slurm(plan, options, (storage, tracking), _command_line(ctx))
    summary = [
        f"{s.variable}: {mask_url(s.default)} unless set when the script runs"
        if s.default is not None
        else f"{s.variable}: must be set when the script runs ({s.why_required})"
        for s in (storage, tracking)
    ]
    if out is None:
        click.echo(script, nl=False)
        for line in summary:
            click.echo(line, err=True)
        return
    _write(out, script, mode=0o755)
    click.echo(f"wrote {out}: study {plan.study_name!r}, {plan.workers} workers")
    for line in summary:
        click.echo(f"  {line}")
    click.echo(f"submit it from a login node: bash {shlex.quote(str(out))}")


@render.command()
@_shared_options
@click.option(
    "--image",
    required=True,
    help="The image built from this project's Dockerfile, e.g. fashion-models:0.2.",
)
@click.option(
    "--memory-per-worker",
    default="4Gi",
    show_default=True,
    help="Memory each worker pod requests and is limited to (a Kubernetes quantity).",
)
@click.option(
    "--with-services",
    is_flag=True,
    help="Also render PostgreSQL (a StatefulSet) and an MLflow server for the study.",
)
@click.option(
    "--with-shop",
    is_flag=True,
    help="Also render the shop's service (optuna-run serve) for the model the study registers.",
)
@click.option(
    "--tls-secret",
    metavar="NAME",
    help="Mount this kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt): the client "
    "certificate for a grpcs:// storage proxy and the CA of the proxy and of PostgreSQL.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per step into this folder (default: print one YAML stream).",
)
@click.pass_context
def k8s(ctx: click.Context, **options: Any) -> None:
    """Plain Kubernetes manifests that run STUDY_FILE: `kubectl apply -f DIR/`.

    A creator Job, an Indexed Job of --workers pods (one worker each) and a finish Job.
    Every container reads OPTUNA_STORAGE and MLFLOW_TRACKING_URI from the Secret
    <study>-stores, which you create (the files show how and hold no value of it), and the
    credentials (database password, MLflow user, proxy token) from the optional keys of the
    Secret <study>-credentials. Jobs
    have no dependencies, so the worker pods wait (an initContainer polling `optuna-run
    status`) until the study exists, and the finish Job until it holds n_trials trials.
    The commands name the study file relative to --project-dir, the image's WORKDIR.
    """
    guarded(ctx, lambda: _k8s(ctx, **options))


def _k8s(
    ctx: click.Context,
    study_file: Path,
    image: str,
    memory_per_worker: str,
    with_services: bool,
    with_shop: bool,
    tls_secret: str | None,
    out: Path | None,
    **shared: Any,
) -> None:
    from fashion_models.deploy.kubernetes import KubernetesOptions, render_kubernetes
    from fashion_models.deploy.plan import RenderError

    _, plan = _plan(study_file, **shared)
    options = KubernetesOptions(image, memory_per_worker, with_services, with_shop, tls_secret)
    manifests = render_kubernetes(plan, options, _command_line(ctx))
    if out is None:
        click.echo(manifests.stream(), nl=False)
        return
    if out.exists() and not out.is_dir():
        raise RenderError(f"--out: expected a folder, found a file: {out}")
    out.mkdir(parents=True, exist_ok=True)
    for name in manifests.files:
        _write(out / name, manifests.file_text(name))
        click.echo(f"wrote {out / name}")
    click.echo(f"create the Secret they name then: kubectl apply -f {out}/")


def _plan(
    study_file: Path,
    workers: int,
    gpus_per_worker: int,
    cpus_per_worker: int,
    project_dir: Path | None,
) -> tuple[StudyConfig, Plan]:
    """The study file, loaded and checked as every command does (bad input: one message,
    exit 2, nothing written), and the plan of the options."""
    from fashion_models.config.components import check
    from fashion_models.config.study_file import load_config
    from fashion_models.deploy.plan import Plan

    config = load_config(study_file)
    check(config)
    plan = Plan(
        study_name=config.study.name,
        study_file=config.path.resolve(),
        search_space_file=config.search_space.path.resolve(),
        project_dir=(project_dir or Path.cwd()).resolve(),
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        final_retrain=config.final is not None,
    )
    return config, plan


def _source(study_file: Path, variable: str, key: str) -> str:
    """Where the URI optuna-run would use now comes from, for messages."""
    return f"{variable} (environment)" if os.environ.get(variable) else f"{study_file}: {key}"


def _command_line(ctx: click.Context) -> str:
    """The command that renders the same files again: every option not left at its default."""
    words = ["optuna-run", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif value not in (None, False, param.default) and isinstance(param, click.Option):
            words += [param.opts[0]] if param.is_flag else [param.opts[0], str(value)]
    return shlex.join(words)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    from fashion_models.deploy.plan import RenderError

    if not path.parent.is_dir():
        raise RenderError(f"--out: expected an existing folder for {path}, found none")
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
