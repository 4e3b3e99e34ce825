"""Photos out of a request body, as a browser form sends them (multipart, field `image`,
repeatable) or as JSON (`{"images": ["<base64>", ...]}`), within the service's limits; every
way a body can be wrong is an HTTPError with its status."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

MULTIPART, JSON = "multipart/form-data", "application/json"
FIELD = "image"


class HTTPError(Exception):
    """An answer other than 200: its status, the reason, extra headers."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class BodyTooLarge(HTTPError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_photos(request: Request, max_photos: int) -> list[bytes | str]:
    """The photos of the request, in order: bytes from a form, base64 text from JSON."""
    kind = media_type(request)
    if kind not in (MULTIPART, JSON):
        raise HTTPError(
            415,
            f"expected a {MULTIPART} form with field '{FIELD}' or {JSON} "
            f"{{\"images\": [...]}}, found content type '{kind or 'none'}'",
        )
    try:
        if kind == MULTIPART:
            photos = await _from_form(request, max_photos)
        else:
            photos = _from_json(await request.body())
    except ClientDisconnect as err:  # nobody reads this answer; the log and metrics do
        raise HTTPError(400, "the client went away before its request body arrived") from err
    if not photos:
        raise HTTPError(400, f"no photo in the request (field '{FIELD}' or 'images')")
    if len(photos) > max_photos:
        raise HTTPError(413, f"{len(photos)} photos in one request, the limit is {max_photos}")
    return photos


async def _from_form(request: Request, max_photos: int) -> list[bytes | str]:
    try:
        # Starlette's own ceilings, far above ours, so that our count below says 413.
        ceiling = 10 * max_photos
        form = await request.form(max_files=ceiling, max_fields=ceiling)
    except (HTTPError, ClientDisconnect):
        raise
    except Exception as err:  # Starlette's multipart errors: a malformed body is the client's
        raise HTTPError(400, f"malformed multipart form: {err}") from err
    photos: list[bytes | str] = []
    for value in form.getlist(FIELD):
        if isinstance(value, UploadFile):
            photos.append(await value.read())
        else:
            photos.append(str(value))  # a text field: base64, as in JSON
    await form.close()
    return photos


def _from_json(body: bytes) -> list[bytes | str]:
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise HTTPError(400, f"body is not valid JSON: {err}") from err
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise HTTPError(400, 'expected JSON {"images": ["<base64>", ...]}, a list of strings')
    return list(images)
