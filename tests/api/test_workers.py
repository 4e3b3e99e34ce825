"""`optuna-run serve --workers 2`: two uvicorn worker processes, each with its own pair; ready
only once both have loaded, and /metrics from either counts the requests of both."""

from __future__ import annotations

import re
import sys

import pytest
import requests

from tests.api.conftest import MODEL, Service
from tests.helpers import free_port, serving

pytestmark = pytest.mark.slow


def test_two_workers_are_ready_together_and_counted_together(
    service: Service, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fashion_models.cli", "serve", "--catalog", str(service.stock),
               "--model", f"models:/{MODEL}@champion",
               "--tracking-uri", service.champion.tracking_uri, "--port", str(port),
               "--workers", "2"]  # fmt: skip
    log = tmp_path_factory.mktemp("workers") / "serve.log"
    with serving(command, f"{url}/readyz", log, timeout=180):
        assert log.read_text().count("INFO:     serving shop-service version") == 2  # both
        photo = service.photos["SKU-001"].read_bytes()
        statuses = [
            requests.post(f"{url}/v1/classify", files=[("image", ("a.jpg", photo))]).status_code
            for _ in range(20)
        ]
        assert statuses == [200] * 20
        text = requests.get(f"{url}/metrics").text
        [count] = re.findall(r'shop_requests_total\{endpoint="classify",status="200"\} (\S+)', text)
        assert float(count) == 20  # whichever worker answered, every request is counted
        assert len(re.findall(r"^shop_model_version\{pid=", text, re.M)) == 2
