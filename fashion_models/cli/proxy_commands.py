"""`optuna-run storage-proxy`: serve one database to many workers. Parsing and printing only;
the work is in search/proxy.py (imported when the command runs, so `--help` stays fast)."""

from __future__ import annotations

import click

from fashion_models.cli.guard import guarded


@click.command("storage-proxy")
@click.option(
    "--storage",
    required=True,
    metavar="URL",
    envvar="OPTUNA_PROXY_STORAGE",
    help="SQLAlchemy URL of the database to serve, e.g. postgresql+psycopg://user:PASS@db/optuna "
    "(or $OPTUNA_PROXY_STORAGE, which keeps a password off the command line).",
)
@click.option("--port", required=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 for every interface (the proxy has no authentication: "
    "serve a private network only).",
)
@click.pass_context
def storage_proxy(ctx: click.Context, storage: str, port: int, host: str) -> None:
    """Serve the Optuna storage at --storage to workers whose study names
    `storage: grpc://HOST:PORT` (or OPTUNA_STORAGE); SIGINT or SIGTERM stops it."""
    guarded(ctx, lambda: _serve(storage, host, port))


def _serve(storage: str, host: str, port: int) -> None:
    from fashion_models.search.proxy import serve

    serve(storage, host, port, echo=click.echo)
