"""A tracking server that dies while it sends an answer's body: the request is sent again.

The server here is a real HTTP server on a local port whose first answer announces its length,
sends the headers and closes the connection: what a client sees when `mlflow server` is killed
mid-answer (the rare case the server-restart test in test_experiment.py can hit)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from mlflow.utils import rest_utils
from mlflow.utils.rest_utils import MlflowHostCreds, http_request

from fashion_models.track import http_retry

BODY = json.dumps({"run": {"info": {"run_id": "abc"}}}).encode()


class CutFirstAnswers(BaseHTTPRequestHandler):
    cut = 0  # answers still to cut off, set per test
    seen = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if type(self).cut > 0:
            type(self).cut -= 1
            self.wfile.flush()
            self.close_connection = True
            return  # headers only: the body never comes
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    CutFirstAnswers.cut, CutFirstAnswers.seen = 0, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CutFirstAnswers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def get_run(url: str) -> requests.Response:
    return http_request(MlflowHostCreds(url), "/api/2.0/mlflow/runs/get", "GET", max_retries=2)


def test_mlflows_own_retries_do_not_cover_a_cut_off_body(server: str) -> None:
    # Why the module exists: urllib3's Retry has given the answer to requests before the body
    # is read, so MLflow's request function raises on the first cut-off answer.
    http_retry.install()
    CutFirstAnswers.cut = 1
    send = http_retry._original
    assert send is not None
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        send("GET", f"{server}/x", 2, 0.1, 0.0, frozenset(), timeout=5)
    assert CutFirstAnswers.seen == 1


def test_a_cut_off_answer_is_asked_again(server: str) -> None:
    http_retry.install()
    http_retry.install()  # idempotent: one wrapper, not two
    assert rest_utils._get_http_response_with_retries.__wrapped__ is http_retry._original
    CutFirstAnswers.cut = 2
    response = get_run(server)
    assert response.json() == {"run": {"info": {"run_id": "abc"}}}
    assert CutFirstAnswers.seen == 3


def test_a_server_that_keeps_cutting_answers_still_fails(server: str) -> None:
    http_retry.install()
    CutFirstAnswers.cut = http_retry.ATTEMPTS
    with pytest.raises(Exception, match="Connection broken|IncompleteRead"):
        get_run(server)
    assert CutFirstAnswers.seen == http_retry.ATTEMPTS
