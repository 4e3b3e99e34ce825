"""Where the stores live: which storage and tracking URLs are files on this host."""

from __future__ import annotations

from pathlib import Path


def sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL; None for any other URL or path."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).resolve()
    return None


def local_file(url: str) -> Path | None:
    """The file of a SQLite URL or a journal path; None for a database server."""
    if url.startswith("sqlite:///"):
        return sqlite_file(url)
    if "://" not in url:
        return Path(url).resolve()
    return None


def database_server(url: str) -> str | None:
    """The backend of a database-server URL (`postgresql`, `mysql`, ...); None for SQLite,
    a journal path, an http(s) tracking server or anything SQLAlchemy does not read."""
    if "://" not in url or url.startswith("sqlite:") or url.split("://")[0] in ("http", "https"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        return None
