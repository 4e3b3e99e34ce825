"""The shop's HTTP service: FastAPI routes over the live model-and-catalog pair (run/live_shop).

Every answer is JSON (the page and the photos aside); every error is `{"error": "..."}` with a
4xx status for what the client sent (400 a bad photo or body, 404, 413 too large, 415 a wrong
content type), 503 with Retry-After when it is not ready or more requests wait than it queues,
504 past the time limit. A request takes the live pair once, so its answer never mixes a model
with another version's index, even while the alias moves.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from fashion_models.api.limits import BodyLimit
from fashion_models.api.metrics import MEDIA_TYPE, Metrics
from fashion_models.api.photos import JSON, HTTPError, read_photos
from fashion_models.run.live_shop import LivePair, ShopHolder, ShopSettings
from fashion_models.serving.images import MAX_BYTES, ImageError

SETTINGS_VARIABLE = "FASHION_MODELS_SERVE"  # how `serve` hands its settings to each worker
log = logging.getLogger("fashion_models.serve")


@dataclass(frozen=True)
class ServiceSettings:
    shop: ShopSettings
    request_timeout: float = 10.0  # seconds, then 504
    max_pending: int = 64  # requests being answered at once, then 503
    max_photos: int = 32  # photos in one request
    max_body: int = MAX_BYTES  # bytes in one request body, then 413
    similar_k_max: int = 50
    workers: int = 1  # uvicorn worker processes, each with its own pair
    ready_dir: str | None = None  # where each ready worker leaves a file named by its pid

    def to_json(self) -> str:
        document = asdict(self)
        document["shop"] = {
            k: str(v) if isinstance(v, Path) else v for k, v in document["shop"].items()
        }
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        document = json.loads(text)
        shop = document.pop("shop")
        shop["stock"] = Path(shop["stock"])
        shop["index"] = Path(shop["index"]) if shop.get("index") else None
        return cls(ShopSettings(**shop), **document)


@dataclass
class _State:
    settings: ServiceSettings
    holder: ShopHolder
    metrics: Metrics
    pending: int = 0
    seen_failures: int = field(default=0)


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker, its settings from `serve` (the factory uvicorn calls)."""
    return create_app(ServiceSettings.from_json(os.environ[SETTINGS_VARIABLE]))


def create_app(settings: ServiceSettings) -> FastAPI:
    if not log.handlers:  # the holder's news (loading, serving, keeping) beside uvicorn's
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    metrics = Metrics()
    holder = ShopHolder(settings.shop)
    state = _State(settings, holder, metrics)
    holder.on_change = lambda: _record_change(state)  # the metrics follow every swap and failure

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A thread per request being answered (they mostly wait for a shared forward pass):
        # asyncio's default of cores + 4 threads would cap a batch at 6 photos on 2 cores.
        threads = ThreadPoolExecutor(settings.max_pending + 4, thread_name_prefix="request")
        asyncio.get_running_loop().set_default_executor(threads)
        holder.start()  # loads in the background: alive at once, ready once loaded
        yield
        await asyncio.to_thread(holder.stop)

    app = FastAPI(title="fashion-models shop service", lifespan=lifespan, docs_url="/docs")
    app.state.shop = state
    _routes(app, state)
    app.add_middleware(BodyLimit, limit=settings.max_body)
    return app


def _record_change(state: _State) -> None:
    live = state.holder.live
    ready_dir = state.settings.ready_dir
    if live is not None and ready_dir is not None:
        (Path(ready_dir) / str(os.getpid())).touch()
    try:
        state.metrics.model_version.set(float(live.identity.version) if live else -1)
    except ValueError:  # a runs:/ or path URI has no registry version
        state.metrics.model_version.set(-1)
    new_failures = state.holder.failures - state.seen_failures
    if new_failures > 0:
        state.metrics.load_failures.inc(new_failures)
        state.seen_failures = state.holder.failures


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def _routes(app: FastAPI, state: _State) -> None:
    settings = state.settings

    def measured(endpoint: str, photo_work: bool = True) -> Callable[..., Any]:
        """Count and time the route; turn HTTPError into its answer; bound the requests being
        answered (503) and their time (504)."""

        def wrap(route: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
            async def answer(request: Request, **kwargs: Any) -> Response:
                started = time.perf_counter()
                response = await _guarded(route, request, photo_work, kwargs)
                state.metrics.requests.labels(endpoint, str(response.status_code)).inc()
                state.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
                return response

            answer.__name__ = route.__name__
            answer.__doc__ = route.__doc__
            answer.__signature__ = inspect.signature(route)  # type: ignore[attr-defined]
            return answer

        return wrap

    async def _guarded(
        route: Callable[..., Awaitable[Response]], request: Request, photo_work: bool, kwargs: Any
    ) -> Response:
        if photo_work and state.pending >= settings.max_pending:
            return _error(503, "busy: too many requests waiting", {"Retry-After": "1"})
        state.pending += photo_work
        try:
            return await asyncio.wait_for(route(request, **kwargs), settings.request_timeout)
        except HTTPError as err:
            return _error(err.status, err.reason, err.headers)
        except TimeoutError:
            return _error(504, f"no answer within {settings.request_timeout:g} s")
        finally:
            state.pending -= photo_work

    def live_pair() -> LivePair:
        live = state.holder.live
        if live is None:
            reason = state.holder.last_error or "the model and catalog are still loading"
            raise HTTPError(503, f"not ready: {reason}", {"Retry-After": "5"})
        return live

    @app.post("/v1/classify")
    @measured("classify")
    async def classify(request: Request) -> Response:
        """The class of each photo, in order; a bad photo gets its own `error`."""
        live = live_pair()
        photos = await read_photos(request, settings.max_photos)
        answers = await asyncio.to_thread(
            live.shop.classify,
            photos,
            settings.request_timeout,
        )
        predictions = [_without_none(a.as_dict()) for a in answers]
        body = {"model": _model(live), "predictions": predictions}
        if all(a.error for a in answers):  # nothing answered: the request itself was bad
            reasons = "; ".join(f"photo {i}: {a.error}" for i, a in enumerate(answers))
            return JSONResponse({"error": reasons, **body}, status_code=400)
        return JSONResponse(body)

    @app.post("/v1/similar")
    @measured("similar")
    async def similar(request: Request, k: int = Query(5, ge=1)) -> Response:
        """The photo's class and the k nearest items in stock of that class."""
        if k > settings.similar_k_max:
            raise HTTPError(400, f"k: expected 1 to {settings.similar_k_max}, found {k}")
        live = live_pair()
        photos = await read_photos(request, 1)
        try:
            answer, matches = await asyncio.to_thread(
                live.shop.similar,
                photos[0],
                k,
                settings.request_timeout,
            )
        except ImageError as err:
            raise HTTPError(400, f"photo 0: {err}") from err
        items = [
            {
                "sku": m.sku,
                "name": m.name,
                "photo_url": f"/v1/photos/{quote(m.sku, safe='')}",
                "quantity": m.quantity,
                "distance": m.distance,
            }
            for m in matches
        ]
        index = {
            "model_version": live.catalog.model.get("version"),
            "built_at": live.catalog.built_at,
        }
        return JSONResponse(
            {
                "model": _model(live),
                "index": index,  # always the model's own version: one pair per request
                **_without_none(answer.as_dict()),
                "similar": items,
            }
        )

    @app.get("/v1/photos/{sku:path}")
    @measured("photo", photo_work=False)
    async def photo(request: Request, sku: str) -> Response:
        """The photo of an item in stock (only items the live index shows)."""
        item = live_pair().shop.index.item(sku)
        if item is None:
            raise HTTPError(404, f"no item in stock with sku '{sku}'")
        return FileResponse(item.photo)

    @app.post("/invocations")
    @measured("invocations")
    async def invocations(request: Request) -> Response:
        """MLflow's scoring protocol, answered as `mlflow models serve` answers it."""
        live = live_pair()
        data = await request.body()
        content_type = request.headers.get("content-type") or "none"
        model = live.pyfunc_model
        try:
            result = await asyncio.to_thread(
                scoring_server.invocations,
                data,
                content_type,
                model,
                model.metadata.get_input_schema(),
            )
        except MlflowException as err:  # as MLflow's server: its JSON, its status
            return Response(err.serialize_as_json(), err.get_http_status_code(), media_type=JSON)
        if result.mimetype != JSON:  # MLflow's plain-text refusals (415): JSON, same status
            return _error(result.status, result.response)
        return Response(result.response, result.status, media_type=result.mimetype)

    @app.get("/livez")
    @measured("livez", photo_work=False)
    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    @app.get("/readyz")
    @measured("readyz", photo_work=False)
    async def readyz(request: Request) -> Response:
        """Ready only while a model and the catalog embedded by that same version are loaded,
        in every worker process (whichever worker answers)."""
        live = live_pair()
        ready = _ready_workers(settings.ready_dir)
        if settings.workers > 1 and ready < settings.workers:
            raise HTTPError(503, f"not ready: {ready} of {settings.workers} workers loaded")
        return JSONResponse({"status": "ready", **live.describe()})

    @app.get("/version")
    @measured("version", photo_work=False)
    async def version_(request: Request) -> Response:
        live = live_pair()
        described = live.describe()
        described["model"]["uri"] = settings.shop.model_uri
        return JSONResponse({**described, "package": version("fashion-models")})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(state.metrics.exposition(), media_type=MEDIA_TYPE)

    @app.get("/")
    async def page(request: Request) -> Response:
        return HTMLResponse(files("fashion_models.api").joinpath("page.html").read_text())

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no such endpoint: {request.method} {request.url.path}")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return _error(400, reasons)


def _ready_workers(ready_dir: str | None) -> int:
    """Workers that have loaded a pair and are still running (uvicorn replaces a dead one)."""
    if ready_dir is None:
        return 0
    alive = 0
    for marker in Path(ready_dir).iterdir():
        try:
            os.kill(int(marker.name), 0)
            alive += 1
        except (ValueError, ProcessLookupError, PermissionError):
            continue
    return alive


def _model(live: LivePair) -> dict[str, str]:
    return {"name": live.identity.name, "version": live.identity.version}


def _without_none(answer: dict[str, Any]) -> dict[str, Any]:
    """A photo's answer: its class and probabilities, or its error, not both."""
    if answer.get("error") is not None:
        return {"error": answer["error"]}
    return {key: value for key, value in answer.items() if key != "error"}
