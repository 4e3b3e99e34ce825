"""Whose database connection is whose: every connection this package opens to a PostgreSQL
storage carries an `application_name` naming the process (`optuna-run PID@HOST`), so that
`pg_stat_activity` shows, and a test can count, the connections of each worker or proxy."""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy.engine import make_url

from fashion_models.config.stores import database_server

APPLICATION = "optuna-run"
_NAME_LIMIT = 63  # PostgreSQL keeps the first 63 bytes of an application_name


def application_name() -> str:
    """This process's name in pg_stat_activity."""
    return f"{APPLICATION} {os.getpid()}@{socket.gethostname()}"[:_NAME_LIMIT]


def connect_args(url: str) -> dict[str, Any]:
    """Driver arguments naming this process's connections to the database at `url` (none
    for other stores, or when the URL names them itself)."""
    if database_server(url) != "postgresql" or "application_name" in make_url(url).query:
        return {}
    return {"application_name": application_name()}
