"""The request body limit, enforced before a route reads the body: a declared length over the
limit is answered 413 at once, and a chunked body is cut off as soon as it passes the limit."""

from __future__ import annotations

import json
from typing import Any

from fashion_models.api.photos import BodyTooLarge

Scope = dict[str, Any]


class BodyLimit:
    """ASGI middleware around the app: `limit` bytes per request body.

    A body over the limit is read to its end (and dropped) before the 413 goes out, up to
    DRAIN_FACTOR times the limit: a client that sends its whole body before it reads the
    answer (most do) then reads the 413 instead of a broken connection."""

    DRAIN_FACTOR = 4

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            if int(declared) <= self.DRAIN_FACTOR * self.limit:
                await self._drain(receive, 0)
            await _answer(send, 413, str(BodyTooLarge(self.limit)))
            return
        received = 0

        async def limited() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if message.get("more_body", False):
                        await self._drain(receive, received)
                    raise BodyTooLarge(self.limit)  # the route answers it (app.py)
            return message

        await self.app(scope, limited, send)

    async def _drain(self, receive: Any, received: int) -> None:
        while received <= self.DRAIN_FACTOR * self.limit:
            message = await receive()
            if message.get("type") != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def _answer(send: Any, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
