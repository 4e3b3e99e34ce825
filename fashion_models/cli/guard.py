"""The three kinds of failure (errors.py) as one line and an exit code."""

from __future__ import annotations

from collections.abc import Callable

import click

from fashion_models.config.secrets import scrub
from fashion_models.errors import FatalError, StoreError, TrialError, UserError

EXIT_FATAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def guarded(ctx: click.Context, action: Callable[[], int | None]) -> None:
    """Run `action`; a user error exits 2, a fatal one 1, an interruption 130 or 143; an
    action that returns a non-zero code (some of its inputs failed, each said why) exits so."""
    from mlflow.exceptions import MlflowException

    try:
        code = action()
    except UserError as exc:
        _fail(ctx, exc, EXIT_USAGE)
    except (FatalError, TrialError) as exc:  # a TrialError here escaped its trial: fatal
        _fail(ctx, exc, EXIT_FATAL)
    except MlflowException as exc:  # e.g. a tracking server that cannot be reached
        _fail(ctx, StoreError(f"MLflow: {exc.message}"), EXIT_FATAL)
    except KeyboardInterrupt as exc:
        # 130 for SIGINT (Ctrl-C), 143 for SIGTERM (signals.Interrupted carries which).
        code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
        click.echo(
            f"interrupted{f' ({exc})' if str(exc) else ''}: the study is kept; "
            "run the same command again to continue",
            err=True,
        )
        ctx.exit(code)
    else:
        if code:
            ctx.exit(code)


def _fail(ctx: click.Context, exc: Exception, code: int) -> None:
    if ctx.obj.get("debug"):
        raise exc
    click.echo(f"error: {scrub(str(exc))}", err=True)
    ctx.exit(code)
