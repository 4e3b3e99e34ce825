"""Secrets: read from the environment or a file it names, and never shown.

`read_secret(NAME)` is the one way a secret comes in: the variable NAME, or the file named by
NAME_FILE (a Kubernetes Secret volume, a file only the job's user can read), so that no secret
is ever in a study file or on a command line (where `ps` and /proc/PID/cmdline show it).

Storage and tracking URIs as they may be shown: never with their password. Every place
that prints a URI, raises it in a message, or stores it (MLflow params and tags, study
attrs, reports) goes through `mask_url`; free text that may quote one (a driver's
error message) goes through `scrub`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from fashion_models.errors import UserError

MASK = "***"
# scheme://user:password@ anywhere in a text (the password up to the last @ before the host).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s/]*@")


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret in environment variable `name`, or in the file `name`_FILE names (its text
    without the trailing newline); None when neither is set. Both set, an unreadable or an
    empty file: UserError naming the variable, never the value."""
    environ = os.environ if environ is None else environ
    value, file = environ.get(name), environ.get(f"{name}_FILE")
    if value is not None and file is not None:
        raise UserError(f"both ${name} and ${name}_FILE are set: expected one of them")
    if file is None:
        return value or None
    try:
        text = Path(file).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise UserError(f"${name}_FILE: cannot read {file}: {reason}") from None
    if not text:
        raise UserError(f"${name}_FILE: {file} is empty: expected the secret")
    return text


def mask_url(url: str) -> str:
    """`url` with its password, if any, shown as ***: SQLAlchemy's own rendering for database
    URLs, the same for http(s)://user:password@host tracking URIs; paths unchanged."""
    if "://" not in url:
        return url
    if _is_http(url):
        parts = urlsplit(url)
        return urlunsplit(_without_password(parts, MASK)) if parts.password is not None else url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads: mask by pattern
        return scrub(url)


def scrub(text: str, *urls: str) -> str:
    """`text` with every `scheme://user:password@` masked, and the password of each of `urls`
    (as written, or decoded) replaced wherever else it appears."""
    for url in urls:
        for secret in _passwords(url):
            text = text.replace(secret, MASK)
    return _USERINFO.sub(lambda m: m.group("head") + MASK + "@", text)


def has_password(url: str) -> bool:
    """Whether `url` carries a password (a database's or an http(s) URI's)."""
    return bool(_passwords(url))


def http_credentials(url: str) -> tuple[str, str | None, str | None]:
    """An http(s) tracking URI without its user and password, and those two (decoded), so
    that they travel beside the URI (MLflow's MLFLOW_TRACKING_USERNAME / _PASSWORD) and no
    message or stored value quotes them. Other URIs come back unchanged, with None, None."""
    if not _is_http(url):
        return url, None, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    bare = urlunsplit(parts._replace(netloc=host))
    password = unquote(parts.password) if parts.password is not None else None
    return bare, unquote(parts.username or ""), password


def _is_http(url: str) -> bool:
    return url.split("://", 1)[0].lower() in ("http", "https")


def _without_password(parts: SplitResult, shown: str) -> SplitResult:
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:{shown}@{host}")


def _passwords(url: str) -> list[str]:
    """The password of `url` as written and decoded; none for a URL without one."""
    if "://" not in url:
        return []
    try:
        raw = urlsplit(url).password
    except ValueError:
        return []
    if not raw:
        return []
    return sorted({raw, unquote(raw)}, key=len, reverse=True)
