"""`optuna-run serve`: uvicorn running the shop's app in N worker processes.

Each worker builds its own app (the factory reads the settings from the environment, never
from argv, where a tracking URI's password would show in `ps`) and loads its own model and
catalog. With several workers their metrics meet in one PROMETHEUS_MULTIPROC_DIR, and each
leaves a file in a shared folder once it is ready, so /readyz says ready only when all are.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import uvicorn

from fashion_models.api.app import SETTINGS_VARIABLE, ServiceSettings

APP_FACTORY = "fashion_models.api.app:app_from_environment"


def serve(settings: ServiceSettings, host: str, port: int, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="shop-") as shared:
        ready_dir, metrics_dir = Path(shared) / "ready", Path(shared) / "metrics"
        ready_dir.mkdir()
        metrics_dir.mkdir()
        settings = replace(settings, workers=workers, ready_dir=str(ready_dir))
        os.environ[SETTINGS_VARIABLE] = settings.to_json()
        if workers > 1:
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            timeout_graceful_shutdown=10,
        )
