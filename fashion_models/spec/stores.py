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
