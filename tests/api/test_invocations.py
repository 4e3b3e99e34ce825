"""`/invocations` of the shop's service against `mlflow models serve` of the same network, side
by side: a web app written against MLflow's server gets the same answers from ours."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.api.conftest import Service
from tests.helpers import mlflow_models_serve
from tests.serving.photos import photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_server(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    champion = service.champion  # the same network the service serves, registered elsewhere
    log = tmp_path_factory.mktemp("mlflow-serve") / "serve.log"
    with mlflow_models_serve(champion.model_uri, champion.tracking_uri, log) as url:
        yield url


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _requests(service: Service) -> list[dict[str, Any]]:
    x = service.champion.test.x_test
    good = [_b64(photo(x[i], fmt)) for i, fmt in ((0, "JPEG"), (1, "PNG"), (2, "WEBP"))]
    bad = _b64(b"just some text")
    return [
        {"json": {"dataframe_split": {"columns": ["image"], "data": [[g] for g in good]}}},
        {"json": {"dataframe_records": [{"image": g} for g in good]}},
        {"json": {"inputs": {"image": good}}},
        {"json": {"dataframe_records": [{"image": good[0]}, {"image": bad}]}},  # 400
        {
            "json": {
                "dataframe_records": [{"image": bad}, {"image": good[1]}],
                "params": {"errors": "report"},
            }
        },  # fmt: skip
        {"json": {"dataframe_records": [{"picture": good[0]}]}},  # not the model's schema
        {"data": b"{broken", "headers": {"Content-Type": "application/json"}},
    ]


def test_invocations_answer_as_mlflow_models_serve(service: Service, mlflow_server: str) -> None:
    for kwargs in _requests(service):
        ours = requests.post(f"{service.url}/invocations", **kwargs)
        theirs = requests.post(f"{mlflow_server}/invocations", **kwargs)
        assert ours.status_code == theirs.status_code, (kwargs, ours.text, theirs.text)
        assert ours.json() == theirs.json(), kwargs
        assert ours.status_code < 500


def test_a_content_type_mlflow_refuses_is_refused_alike_but_in_json(
    service: Service, mlflow_server: str
) -> None:
    kwargs: dict[str, Any] = {"data": b"image\nabc", "headers": {"Content-Type": "text/plain"}}
    ours = requests.post(f"{service.url}/invocations", **kwargs)
    theirs = requests.post(f"{mlflow_server}/invocations", **kwargs)
    assert ours.status_code == theirs.status_code == 415
    assert ours.json() == {"error": theirs.text}
