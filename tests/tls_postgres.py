"""A PostgreSQL cluster of the test's own, TLS only: Debian's `initdb` and `pg_ctl` in a
temporary folder, run as the `postgres` user when the tests run as root (PostgreSQL refuses
root), with the server certificate of tests/tls.py and password (SCRAM) authentication.
pg_hba.conf rejects every TCP connection without TLS, so whatever gets in came over TLS.
The machine's own cluster on 5432 is left as it is."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port
from tests.tls import Pki

SUPERUSER = "postgres"
HBA = """\
local   all all                scram-sha-256
hostssl all all 127.0.0.1/32   scram-sha-256
host    all all 127.0.0.1/32   reject
"""


@dataclass(frozen=True)
class TlsPostgres:
    port: int
    password: str  # the superuser's: given to clients in PGPASSWORD, never in a URL
    ca: Path

    def url(self, database: str, ca: Path | None = None, driver: str = "psycopg") -> str:
        """A URL without a password that verifies the server (sslmode=verify-full)."""
        return (
            f"postgresql+{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"
            f"?sslmode=verify-full&sslrootcert={ca or self.ca}"
        )

    def libpq(self, database: str) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} user={SUPERUSER} "
            f"sslmode=verify-full sslrootcert={self.ca}"
        )


def _bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no initdb under /usr/lib/postgresql: `make setup` installs it")
    return Path(found[-1]).parent


def _as_owner(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *command],
        check=True,
        capture_output=True,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


@contextmanager
def tls_postgres(pki: Pki, password: str, databases: tuple[str, ...]) -> Iterator[TlsPostgres]:
    """A running TLS-only cluster whose superuser has `password`, with `databases` created."""
    root = Path(tempfile.mkdtemp(prefix="fm-pg-tls-"))
    data, port = root / "data", free_port()
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SUPERUSER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    root.chmod(0o700)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    for name, source in (("server.crt", pki.server_cert), ("server.key", pki.server_key)):
        shutil.copy(source, root / name)
    for path in (pwfile, root / "server.crt", root / "server.key"):
        path.chmod(0o600)
        if os.geteuid() == 0:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    binaries = _bin()
    try:
        _as_owner([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER,
                   "--auth=scram-sha-256", f"--pwfile={pwfile}"])  # fmt: skip
        pwfile.unlink()
        (data / "pg_hba.conf").write_text(HBA)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{root}'\nssl = on\n"
                f"ssl_cert_file = '{root / 'server.crt'}'\n"
                f"ssl_key_file = '{root / 'server.key'}'\nmax_connections = 200\n"
                "fsync = off\nsynchronous_commit = off\n"  # a test's data: speed over safety
            )
        _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                   "-w", "-t", "60", "start"])  # fmt: skip
        cluster = TlsPostgres(port, password, pki.ca)
        import psycopg

        with psycopg.connect(
            cluster.libpq("postgres"), password=password, autocommit=True
        ) as admin:
            for database in databases:
                admin.execute(f'CREATE DATABASE "{database}"')
        yield cluster
    finally:
        subprocess.run(
            [*(["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []),
             str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
