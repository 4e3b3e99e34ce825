"""Where the stores live: which storage and tracking URLs are files on this host, which are
database servers, and which is a storage proxy (`grpc://HOST:PORT`, or `grpcs://HOST:PORT` over
TLS)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

GRPC_FORM = "grpc://HOST:PORT (grpcs:// over TLS)"


def sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL; None for any other URL or path."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).resolve()
    return None


def local_file(url: str) -> Path | None:
    """The file of a SQLite URL or a journal path; None for a database server or a proxy."""
    if url.startswith("sqlite:///"):
        return sqlite_file(url)
    if "://" not in url and not is_grpc(url):
        return Path(url).resolve()
    return None


def database_server(url: str) -> str | None:
    """The backend of a database-server URL (`postgresql`, `mysql`, ...); None for SQLite,
    a journal path, a storage proxy, an http(s) tracking server or anything SQLAlchemy does
    not read."""
    if "://" not in url or url.startswith("sqlite:") or is_grpc(url):
        return None
    if url.split("://")[0] in ("http", "https"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        return None


def is_tracking_server(url: str) -> bool:
    """Whether `url` names an MLflow tracking server (http:// or https://)."""
    return url.split("://", 1)[0].lower() in ("http", "https") and "://" in url


def is_grpc(url: str) -> bool:
    """Whether `url` names a storage proxy (well-formed or not: see grpc_address)."""
    return url.split(":", 1)[0].lower() in ("grpc", "grpcs") and ":" in url


def is_tls_grpc(url: str) -> bool:
    """Whether `url` names a storage proxy reached over TLS (`grpcs://`)."""
    return url.lower().startswith("grpcs://")


def grpc_address(url: str) -> tuple[str, int]:
    """The host and port of a storage proxy's `grpc://HOST:PORT` or `grpcs://HOST:PORT`;
    ValueError saying what is wrong with a malformed one (no user, password, path or query: the
    proxy takes none; its credentials come from the environment, proxy_security.py)."""
    if not url.lower().startswith(("grpc://", "grpcs://")):
        raise ValueError("it must start with grpc:// or grpcs://")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or outside 0-65535
        raise ValueError("the port must be a number from 1 to 65535") from None
    if "@" in parts.netloc:
        raise ValueError("a storage proxy takes no user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("nothing may follow the port")
    if not parts.hostname:
        raise ValueError("the host is missing")
    if port is None:
        raise ValueError("the port is missing")
    if not 0 < port < 65536:
        raise ValueError("the port must be a number from 1 to 65535")
    return parts.hostname, port
