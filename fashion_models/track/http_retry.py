"""Retrying a tracking-server answer that was cut off in its body.

MLflow's HTTP client retries with urllib3's `Retry`, which covers a request until the answer's
headers arrive: a refused connection, a reset, a 5xx. A server killed while it sends the body
(headers read, then the connection closes) surfaces later, when `requests` reads the content,
as `ChunkedEncodingError`, and MLflow turns it into an MlflowException: a trial that was
training fine would fail on one cut-off answer. MLflow's own retry policy already re-sends any
method (`allowed_methods=None`), so sending the request once more here keeps its semantics;
the new attempt goes through urllib3's retries again, which wait for the server to come back.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import requests
from mlflow.utils import rest_utils

ATTEMPTS = 4  # a cut-off body is rare: each new try has urllib3's whole backoff behind it
PAUSE_SECONDS = 1.0

_original: Callable[..., requests.Response] | None = None


def install() -> None:
    """Wrap MLflow's request function once per process (idempotent)."""
    global _original
    if _original is not None:
        return
    _original = rest_utils._get_http_response_with_retries
    rest_utils._get_http_response_with_retries = _retrying(_original)


def _retrying(send: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
    @functools.wraps(send)
    def wrapper(*args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return send(*args, **kwargs)
            except requests.exceptions.ChunkedEncodingError:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(PAUSE_SECONDS * attempt)
        raise AssertionError("unreachable")

    return wrapper
