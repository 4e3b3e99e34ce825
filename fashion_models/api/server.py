"""`optuna-run serve`: uvicorn running the shop's app in N worker processes.

Each worker builds its own app (the factory reads the settings from the environment, never
from argv, where a tracking URI's password would show in `ps`) and loads its own model and
catalog. With several workers their metrics meet in one PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import tempfile

import uvicorn

from fashion_models.api.app import SETTINGS_VARIABLE, ServiceSettings

APP_FACTORY = "fashion_models.api.app:app_from_environment"


def serve(settings: ServiceSettings, host: str, port: int, workers: int) -> None:
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    with tempfile.TemporaryDirectory(prefix="shop-metrics-") as metrics_dir:
        if workers > 1:
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            timeout_graceful_shutdown=10,
        )
