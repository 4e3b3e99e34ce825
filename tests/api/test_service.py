"""Tests for fashion_models.api: the shop's service as the web app calls it, a real
`optuna-run serve` process on a free port (tests/api/conftest.py), with real photos."""

from __future__ import annotations

import base64
import io
import re
import socket
import threading
import time
from importlib.metadata import version
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from fashion_models.train.data import CLASS_NAMES
from tests.api.conftest import MODEL, Service, quantity
from tests.serving.photos import png

pytestmark = pytest.mark.slow


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _form(*photos: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image", (f"photo-{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]


def _smaller(path: Any) -> bytes:
    """A half-size PNG copy of a stock photo, as a customer might upload it."""
    buffer = io.BytesIO()
    Image.open(path).reduce(2).save(buffer, "PNG")
    return buffer.getvalue()


def _assert_still_answers(service: Service) -> None:
    response = requests.post(
        f"{service.url}/v1/classify", files=_form(service.photos["SKU-001"].read_bytes())
    )
    assert response.status_code == 200, response.text


def test_alive_ready_and_which_pair_is_live(service: Service) -> None:
    assert requests.get(f"{service.url}/livez").json() == {"status": "alive"}
    live = service.alias_version()
    ready = requests.get(f"{service.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["model"] == {"name": MODEL, "version": live}
    about = requests.get(f"{service.url}/version").json()
    assert about["model"] == {"name": MODEL, "version": live, "uri": f"models:/{MODEL}@champion"}
    assert about["catalog"]["model_version"] == live
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", about["catalog"]["built_at"])
    sold_out = sum(quantity(i) == 0 for i in range(len(service.photos)))
    assert about["catalog"]["items_in_stock"] == len(service.photos) - sold_out
    assert about["package"] == version("fashion-models")


def test_classify_answers_form_and_json_alike_and_as_well_as_the_test_set(
    service: Service,
) -> None:
    skus = sorted(service.photos)[:32]  # the service's limit per request
    photos = [service.photos[s].read_bytes() for s in skus]
    by_form = requests.post(f"{service.url}/v1/classify", files=_form(*photos))
    by_json = requests.post(
        f"{service.url}/v1/classify", json={"images": [_b64(p) for p in photos]}
    )
    assert by_form.status_code == by_json.status_code == 200, by_form.text
    answers = by_form.json()["predictions"]
    assert answers == by_json.json()["predictions"]
    assert len(answers) == len(skus)
    for answer in answers:
        assert set(answer) == {"class_name", "probability", "top_classes", "top_probabilities"}
        assert answer["top_classes"][0] == answer["class_name"]
        assert answer["top_probabilities"][0] == answer["probability"]
        assert answer["top_probabilities"] == sorted(answer["top_probabilities"], reverse=True)
    right = [
        a["class_name"] == CLASS_NAMES[service.labels[s]]
        for a, s in zip(answers, skus, strict=True)
    ]
    assert np.mean(right) > 0.6  # the champion's test accuracy is about 0.8


def test_a_batch_answers_its_good_photos_and_names_each_bad_one(service: Service) -> None:
    good = service.photos["SKU-001"].read_bytes()
    bad = {
        "text": b"not an image, just some text\n",
        "truncated": good[:1500],
        "empty": b"",
        "bomb": png(8000, 6000),  # 48 megapixels, a few kB on the wire
    }
    response = requests.post(f"{service.url}/v1/classify", files=_form(good, *bad.values(), good))
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert answers[0]["class_name"] == answers[-1]["class_name"] in CLASS_NAMES
    errors = [a["error"] for a in answers[1:-1]]
    assert errors[0].startswith("not a readable image")
    assert errors[1].startswith("corrupt or truncated image")
    assert errors[2] == "empty file (0 bytes)"
    assert errors[3].startswith("image too large: 8000x6000 = 48000000 pixels")

    only_bad = requests.post(f"{service.url}/v1/classify", files=_form(bad["text"]))
    assert only_bad.status_code == 400
    assert only_bad.json()["error"].startswith("photo 0: not a readable image")
    _assert_still_answers(service)


def test_similar_finds_the_item_itself_first_and_never_one_sold_out(service: Service) -> None:
    for i in (1, 6, 13, 22):
        sku = f"SKU-{i:03d}"
        response = requests.post(
            f"{service.url}/v1/similar?k=5", files=_form(_smaller(service.photos[sku]))
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"]["version"] == body["index"]["model_version"]
        items = body["similar"]
        assert items[0]["sku"] == sku and items[0]["name"] == f"Item {i}, as photographed"
        assert items[0]["quantity"] == quantity(i)
        assert 1 <= len(items) <= 5
        assert [it["distance"] for it in items] == sorted(it["distance"] for it in items)
        assert all(it["quantity"] > 0 for it in items)
        photo_bytes = requests.get(f"{service.url}{items[0]['photo_url']}").content
        assert photo_bytes == service.photos[sku].read_bytes()

    # A sold-out item's own photo: whatever is found, it is not that item.
    sold_out = "SKU-004"
    response = requests.post(
        f"{service.url}/v1/similar?k=50",
        json={"images": [_b64(service.photos[sold_out].read_bytes())]},
    )
    assert response.status_code == 200, response.text
    assert sold_out not in {it["sku"] for it in response.json()["similar"]}
    assert requests.get(f"{service.url}/v1/photos/{sold_out}").status_code == 404


@pytest.mark.parametrize(
    ("request_kwargs", "status", "reason"),
    [
        ({"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "expected a"),
        ({"json": {"photos": []}}, 400, 'expected JSON {"images"'),
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "not valid"),
        ({"json": {"images": ["%%%"]}}, 400, "photo 0: not valid base64"),
        ({"files": [("other", ("a.jpg", b"x", "image/jpeg"))]}, 400, "no photo in the request"),
        ({"data": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data"}}, 400, ""),
    ],
)
def test_a_bad_request_is_a_4xx_with_a_reason_and_the_next_one_is_answered(
    service: Service, request_kwargs: dict[str, Any], status: int, reason: str
) -> None:
    for endpoint in ("classify", "similar"):
        response = requests.post(f"{service.url}/v1/{endpoint}", **request_kwargs)
        assert response.status_code == status, (endpoint, response.text)
        assert response.json()["error"].startswith(reason) or reason in response.json()["error"]
    _assert_still_answers(service)


def test_too_large_too_many_and_no_such_thing(service: Service) -> None:
    huge = b"\xff\xd8" + bytes(21 * 1024 * 1024)  # over 20 MiB, declared up front
    response = requests.post(f"{service.url}/v1/classify", files=_form(huge))
    assert response.status_code == 413
    assert response.json() == {"error": "request body over the limit of 20971520 bytes"}

    def chunks() -> Any:  # no length declared: cut off as the body passes the limit
        for _ in range(22):
            yield bytes(1024 * 1024)

    chunked = requests.post(
        f"{service.url}/v1/classify",
        data=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413

    many = requests.post(f"{service.url}/v1/classify", json={"images": [_b64(b"x")] * 33})
    assert many.status_code == 413 and "the limit is 32" in many.json()["error"]
    k = requests.post(f"{service.url}/v1/similar?k=0", json={"images": [_b64(b"x")]})
    assert k.status_code == 400 and k.json()["error"].startswith("k: ")
    assert requests.get(f"{service.url}/v2/nothing").status_code == 404
    assert requests.get(f"{service.url}/v1/classify").status_code == 405
    _assert_still_answers(service)


def test_a_connection_dropped_mid_upload_does_not_disturb_the_service(service: Service) -> None:
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100000\r\n\r\n{"images": ["'
        )
    _assert_still_answers(service)
    time.sleep(0.5)
    assert "Traceback" not in service.log.read_text()


def test_metrics_count_requests_by_endpoint_and_status(service: Service) -> None:
    requests.post(f"{service.url}/v1/classify", data=b"x", headers={"Content-Type": "text/plain"})
    _assert_still_answers(service)
    text = requests.get(f"{service.url}/metrics").text
    counts = {
        (m[0], m[1]): float(m[2])
        for m in re.findall(r'shop_requests_total\{endpoint="(\w+)",status="(\d+)"\} (\S+)', text)
    }
    assert counts[("classify", "200")] >= 1 and counts[("classify", "415")] >= 1
    assert re.search(r'shop_request_seconds_bucket\{endpoint="classify",le="0.1"\} \d', text)
    served = re.search(r"^shop_model_version (\S+)$", text, re.M)
    assert served and float(served.group(1)) == float(service.alias_version())


def test_the_alias_moves_under_load_and_no_answer_mixes_two_versions(service: Service) -> None:
    """While clients keep asking, the alias moves to a new version: the service embeds the
    stock with it in the background and switches; every request is answered, and every
    answer's model and index are one version."""
    old = service.alias_version()
    query = _smaller(service.photos["SKU-001"])
    seen: list[tuple[int, str, str]] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                r = session.post(f"{service.url}/v1/similar?k=3", files=_form(query))
                body = r.json()
                model = body.get("model", {}).get("version", body.get("error"))
                seen.append((r.status_code, model, body.get("index", {}).get("model_version")))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for c in clients:
        c.start()
    try:
        time.sleep(1)
        new = service.register_again()
        service.move_alias(new)
        deadline = time.monotonic() + 120
        while requests.get(f"{service.url}/version").json()["model"]["version"] != new:
            assert time.monotonic() < deadline, service.log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        for c in clients:
            c.join()
    assert {status for status, _, _ in seen} == {200}, [s for s in seen if s[0] != 200]
    assert all(model == index for _, model, index in seen)
    versions = [model for _, model, _ in seen]
    assert versions[0] == old and new in versions
    about = requests.get(f"{service.url}/version").json()
    assert about["catalog"]["model_version"] == new


def test_a_new_version_that_cannot_load_leaves_the_old_pair_serving(service: Service) -> None:
    live = service.alias_version()
    client = service.client()
    broken = client.create_model_version(MODEL, source=str(service.log.parent / "no-such-model"))
    service.move_alias(str(broken.version))
    try:
        deadline = time.monotonic() + 60
        while "version " + str(broken.version) not in service.log.read_text():
            assert time.monotonic() < deadline, service.log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1)
        assert requests.get(f"{service.url}/version").json()["model"]["version"] == live
        _assert_still_answers(service)
        text = requests.get(f"{service.url}/metrics").text
        failures = re.search(r"^shop_model_load_failures_total (\S+)$", text, re.M)
        assert failures and float(failures.group(1)) >= 1
        assert f"keeping {MODEL} version {live}" in service.log.read_text()
    finally:
        service.move_alias(live)


def test_a_sold_out_item_disappears_without_re_embedding(service: Service) -> None:
    before = requests.get(f"{service.url}/version").json()["catalog"]
    text = service.stock.read_text()
    service.stock.write_text(text.replace("photos/1.jpg,2", "photos/1.jpg,0"))
    try:
        deadline = time.monotonic() + 30
        while requests.get(f"{service.url}/v1/photos/SKU-001").status_code != 404:
            assert time.monotonic() < deadline, service.log.read_text()[-3000:]
            time.sleep(0.2)
        found = requests.post(
            f"{service.url}/v1/similar?k=50", files=_form(_smaller(service.photos["SKU-001"]))
        ).json()["similar"]
        assert "SKU-001" not in {it["sku"] for it in found}
        after = requests.get(f"{service.url}/version").json()["catalog"]
        assert after["built_at"] == before["built_at"]  # the same embeddings
        assert after["items_in_stock"] == before["items_in_stock"] - 1
    finally:
        service.stock.write_text(text)
