"""`optuna-run storage-proxy`: serve one database to many workers. Parsing and printing only;
the work is in search/proxy.py and search/proxy_security.py (imported when the command runs,
so `--help` stays fast)."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from fashion_models.cli.guard import guarded
from fashion_models.config.secrets import has_password

PEM = click.Path(exists=False, dir_okay=False, path_type=Path)


@click.command("storage-proxy")
@click.option(
    "--storage",
    required=True,
    metavar="URL",
    envvar="OPTUNA_PROXY_STORAGE",
    help="SQLAlchemy URL of the database to serve, e.g. postgresql+psycopg://user@db/optuna; "
    "a URL with a password only through $OPTUNA_PROXY_STORAGE (argv is visible to every user "
    "of the host), or the password in PGPASSWORD / a PGPASSFILE.",
)
@click.option("--port", required=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 for every interface (with TLS and a token or client "
    "certificates, or on a private network only).",
)
@click.option(
    "--tls-cert",
    type=PEM,
    envvar="OPTUNA_PROXY_TLS_CERT_FILE",
    help="PEM certificate (chain) of the proxy: serve TLS; workers join with grpcs://HOST:PORT.",
)
@click.option(
    "--tls-key", type=PEM, envvar="OPTUNA_PROXY_TLS_KEY_FILE", help="PEM key of --tls-cert."
)
@click.option(
    "--client-ca",
    type=PEM,
    envvar="OPTUNA_PROXY_CLIENT_CA_FILE",
    help="PEM CA: admit only workers with a client certificate it signed (mTLS).",
)
@click.pass_context
def storage_proxy(
    ctx: click.Context,
    storage: str,
    port: int,
    host: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
) -> None:
    """Serve the Optuna storage at --storage to workers whose study names
    `storage: grpc://HOST:PORT` (grpcs:// with TLS), or OPTUNA_STORAGE; SIGINT or SIGTERM
    stops it. With $OPTUNA_PROXY_TOKEN (or $OPTUNA_PROXY_TOKEN_FILE) set, every call must
    carry that bearer token (workers set the same variable)."""

    def serve() -> None:
        from fashion_models.errors import ArgumentError
        from fashion_models.search.proxy import serve
        from fashion_models.search.proxy_security import server_security

        if ctx.get_parameter_source("storage") == ParameterSource.COMMANDLINE and has_password(
            storage
        ):
            raise ArgumentError(
                "--storage: the URL holds a password, which the command line shows to every "
                "user of this host: expected it in $OPTUNA_PROXY_STORAGE, or the password in "
                "PGPASSWORD or a PGPASSFILE"
            )
        security = server_security(tls_cert, tls_key, client_ca)
        serve(storage, host, port, echo=click.echo, security=security)

    guarded(ctx, serve)
