"""Tests for fashion_models.serving.pyfunc: the servable model under `mlflow models serve`,
the registered champion answering real HTTP requests."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from fashion_models.train.data import CLASS_NAMES
from tests.helpers import Champion, mlflow_models_serve
from tests.serving.photos import photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(champion: Champion, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with mlflow_models_serve(champion.model_uri, champion.tracking_uri, log) as url:
        yield url


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_the_served_model_classifies_an_uploaded_photo(server: str, champion: Champion) -> None:
    images = [photo(champion.test.x_test[i], fmt) for i, fmt in ((0, "JPEG"), (1, "PNG"))]
    status, body = _post(server, {"dataframe_records": [{"image": _b64(b)} for b in images]})
    assert status == 200, body
    predictions = body["predictions"]
    assert len(predictions) == 2
    for p in predictions:
        assert p["class_name"] in CLASS_NAMES and p["error"] is None
        assert p["top_classes"][0] == p["class_name"] and len(p["top_classes"]) == 3
        assert p["probability"] == pytest.approx(p["top_probabilities"][0])


def test_a_bad_image_is_a_400_with_its_reason(server: str, champion: Champion) -> None:
    good = _b64(photo(champion.test.x_test[0], "JPEG"))
    bad = _b64(b"just some text, not a garment")
    status, body = _post(server, {"dataframe_records": [{"image": good}, {"image": bad}]})
    assert status == 400, body
    assert "1 of 2 images cannot be classified: image 1: not a readable image" in body["message"]


def test_report_mode_answers_the_good_images_beside_the_bad(
    server: str, champion: Champion
) -> None:
    good = _b64(photo(champion.test.x_test[0], "JPEG"))
    empty = _b64(b"")
    status, body = _post(
        server,
        {"dataframe_records": [{"image": empty}, {"image": good}], "params": {"errors": "report"}},
    )
    assert status == 200, body
    first, second = body["predictions"]
    assert first["error"] == "empty file (0 bytes)" and first["class_name"] is None
    assert second["class_name"] in CLASS_NAMES and second["error"] is None
