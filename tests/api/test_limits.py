"""The service under more than it can take: a second real server with a short time limit and
room for one request at a time. Past the limit a request is answered 504, beyond the queue 503
with Retry-After, and the next request is answered as before."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator

import pytest
import requests
from PIL import Image

from tests.api.conftest import MODEL, Service
from tests.helpers import free_port, serving

pytestmark = pytest.mark.slow

TIMEOUT = 0.5  # seconds


@pytest.fixture(scope="module")
def tight(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fashion_models.cli", "serve", "--catalog", str(service.stock),
               "--model", f"models:/{MODEL}@champion",
               "--tracking-uri", service.champion.tracking_uri, "--port", str(port),
               "--timeout", str(TIMEOUT), "--max-pending", "1"]  # fmt: skip
    log = tmp_path_factory.mktemp("tight") / "serve.log"
    with serving(command, f"{url}/readyz", log, timeout=180):
        yield url


def _big_photos(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    """n large JPEGs (12 megapixels each): decoding them all takes well over TIMEOUT."""
    buffer = io.BytesIO()
    image = Image.new("RGB", (4000, 3000), (240, 240, 240))
    image.paste((30, 30, 30), (1500, 800, 2500, 2200))
    image.save(buffer, "JPEG", quality=80)
    return [("image", (f"big-{i}.jpg", buffer.getvalue(), "image/jpeg")) for i in range(n)]


def _small(service: Service) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image", ("a.jpg", service.photos["SKU-001"].read_bytes(), "image/jpeg"))]


def test_past_the_time_limit_is_a_504_and_the_next_request_is_answered(
    tight: str, service: Service
) -> None:
    response = requests.post(f"{tight}/v1/classify", files=_big_photos(32))
    assert response.status_code == 504
    assert response.json() == {"error": f"no answer within {TIMEOUT:g} s"}
    follow = requests.post(f"{tight}/v1/classify", files=_small(service))
    assert follow.status_code == 200, follow.text


def test_beyond_the_queue_is_a_503_with_retry_after(tight: str, service: Service) -> None:
    answers: list[requests.Response] = []
    photos = _big_photos(8)

    def client() -> None:
        answers.append(requests.post(f"{tight}/v1/classify", files=photos))

    clients = [threading.Thread(target=client) for _ in range(6)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {200, 503, 504} and 503 in statuses, statuses
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["Retry-After"] == "1"
    assert busy.json() == {"error": "busy: too many requests waiting"}
    follow = requests.post(f"{tight}/v1/classify", files=_small(service))
    assert follow.status_code == 200, follow.text
    text = requests.get(f"{tight}/metrics").text
    assert 'shop_requests_total{endpoint="classify",status="503"}' in text
