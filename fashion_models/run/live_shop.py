"""What the shop's service answers with: the model version that the registry alias names and
the stock index embedded by that same version, held as one pair and replaced as one.

Every `poll_seconds` the holder looks at the alias and at the stock file. When the alias has
moved, it loads the new version and embeds the stock with it, off the request path, and only
then swaps the pair in one assignment: a request holds the pair it started with, so no answer
ever mixes a model with another version's index. A new version that fails to load or embed
leaves the old pair serving, and `last_error` says why. A changed stock file (quantities,
names) is joined to the live index without re-embedding.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fashion_models.run.served_model import load_pyfunc
from fashion_models.serving import catalog as cat
from fashion_models.serving.shop import Shop
from fashion_models.serving.stock import StockItem, read_stock
from fashion_models.track.experiment import connect
from fashion_models.track.registry import ModelIdentity, resolve

log = logging.getLogger("fashion_models.serve")


@dataclass(frozen=True)
class ShopSettings:
    tracking_uri: str
    model_uri: str
    stock: Path  # the stock CSV or folder
    index: Path | None = None  # an index file to start from and keep current; None: in memory
    poll_seconds: float = 30.0
    max_batch: int = 64


@dataclass(frozen=True)
class LivePair:
    """One model version, its servable pyfunc and Keras model, and the stock index it embedded."""

    identity: ModelIdentity
    pyfunc_model: Any  # mlflow.pyfunc.PyFuncModel: what /invocations scores with
    shop: Shop
    catalog: cat.Catalog
    stock_mtime: float
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def describe(self) -> dict[str, Any]:
        return {
            "model": {"name": self.identity.name, "version": self.identity.version},
            "catalog": {
                "built_at": self.catalog.built_at,
                "model_version": self.catalog.model.get("version"),
                "items_in_stock": len(self.shop.index),
                "items_not_indexed": self.shop.index.unindexed,
            },
            "loaded_at": self.loaded_at,
        }


class ShopHolder:
    def __init__(self, settings: ShopSettings, on_change: Callable[[], None] = lambda: None):
        self.settings = settings
        self.live: LivePair | None = None
        self.last_error: str | None = None
        self.failures = 0  # loads or embeddings of a new version that failed
        self.swaps = 0
        self.on_change = on_change
        self._lock = threading.Lock()  # one refresh at a time (the poller, a test, startup)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the first pair and then follow the alias, in a background thread."""
        self._thread = threading.Thread(target=self._follow, name="alias-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self.live is not None:
            self.live.shop.close()

    def _follow(self) -> None:
        connect(self.settings.tracking_uri)  # once: the process's MLflow URI and retries
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.settings.poll_seconds)

    def refresh(self) -> None:
        """Swap in a new pair if the alias moved or the stock file changed; on failure keep
        the old pair and record why."""
        with self._lock:
            try:
                self._refresh()
            except Exception as err:
                # Anything a new version can do wrong must leave the old pair serving.
                error = f"{type(err).__name__}: {err}"
                if error != self.last_error:  # retried every poll: said once, counted each time
                    log.error("keeping %s: %s", self._live_name(), error)
                self.failures += 1
                self.last_error = error
                self.on_change()

    def _live_name(self) -> str:
        live = self.live
        if live is None:
            return "no model (not ready)"
        return f"{live.identity.name} version {live.identity.version}"

    def _refresh(self) -> None:
        settings = self.settings
        identity = resolve(settings.model_uri)
        mtime = _mtime(settings.stock)
        live = self.live
        if live is not None and live.identity.version == identity.version:
            if mtime != live.stock_mtime:  # quantities or names changed: re-join, no embedding
                pair = _pair(live.identity, live.pyfunc_model, live.catalog, settings, mtime)
                self._swap(pair)
                log.info("stock file changed: %d items in stock", len(pair.shop.index))
            return
        log.info("loading %s version %s", identity.name, identity.version)
        pyfunc_model = load_pyfunc(settings.tracking_uri, identity.pinned_uri)
        keras_model = pyfunc_model.unwrap_python_model().keras_model
        stock = read_stock(settings.stock)
        catalog = self._catalog(keras_model, identity, stock)
        self._swap(_pair(identity, pyfunc_model, catalog, settings, mtime, stock))
        self.last_error = None
        log.info("serving %s version %s", identity.name, identity.version)

    def _catalog(
        self, keras_model: Any, identity: ModelIdentity, stock: list[StockItem]
    ) -> cat.Catalog:
        """The index file's catalog if that same version embedded it; else the stock embedded
        now (and written to the index file, so the next start need not embed again)."""
        path = self.settings.index
        if path is not None and path.exists():
            catalog = cat.load(path)
            if catalog.model.get("version") == identity.version and (
                catalog.model.get("name") == identity.name
            ):
                return catalog
        log.info("embedding %d stock photos with version %s", len(stock), identity.version)
        catalog, errors = cat.build(keras_model, stock, identity.as_dict())
        for sku, reason in errors.items():
            log.warning("stock item %s not indexed: %s", sku, reason)
        if path is not None:
            cat.save(catalog, path)
        return catalog

    def _swap(self, pair: LivePair) -> None:
        old, self.live = self.live, pair  # one assignment: requests see the old or the new pair
        self.swaps += 1
        self.on_change()
        if old is not None and old.shop is not pair.shop:
            old.shop.close()  # answers what it has queued, then stops


def _pair(
    identity: ModelIdentity,
    pyfunc_model: Any,
    catalog: cat.Catalog,
    settings: ShopSettings,
    mtime: float,
    stock: list[StockItem] | None = None,
) -> LivePair:
    cat.check_version(catalog, identity.name, identity.version)
    index = cat.SearchIndex(catalog, stock if stock is not None else read_stock(settings.stock))
    keras_model = pyfunc_model.unwrap_python_model().keras_model
    shop = Shop(keras_model, index, settings.max_batch)
    return LivePair(identity, pyfunc_model, shop, catalog, mtime)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0
