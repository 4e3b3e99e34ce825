"""Similar items in stock: stock photos embedded by the champion, searched by exact cosine.

An index file (.npz, no pickles) holds one embedding per stock item (the Keras model's
penultimate layer on the preprocessed photo), keyed by sku, with its predicted class, photo,
name and quantity when it was built, the model version that made it and when. Embeddings of
two versions are not comparable: when the champion changes, the index must be rebuilt, and
`check_version` says so. Quantities are not embeddings: a `SearchIndex` joins the index with
the stock file as it is now, so a sold-out item disappears without re-embedding anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import keras
import numpy as np

from fashion_models.errors import FatalError
from fashion_models.serving.images import ImageError, read_file
from fashion_models.serving.pyfunc import prepare, prepare_all
from fashion_models.serving.stock import StockItem
from fashion_models.train.data import CLASS_NAMES
from fashion_models.train.model import classifier_of


class CatalogError(FatalError):
    """The index cannot be used (missing, unreadable, or made by another model version)."""


@dataclass(frozen=True)
class Catalog:
    """The stock items' embeddings, predicted classes, skus, photos, names and quantities (as
    indexed), and the model that made them."""

    embeddings: np.ndarray  # (n, d) float32
    classes: np.ndarray  # (n,) int, index into CLASS_NAMES
    paths: np.ndarray  # (n,) str: the photos
    model: dict[str, str]  # name, version, uri of the model that embedded them
    skus: np.ndarray | None = None  # (n,) str; None: an index of a folder from before skus
    names: np.ndarray | None = None  # (n,) str
    quantities: np.ndarray | None = None  # (n,) int
    built_at: str = ""  # ISO 8601, UTC

    def items(self) -> list[StockItem]:
        """The indexed items as they were when the index was built."""
        n = len(self.paths)
        skus = self.skus if self.skus is not None else self.paths
        names = self.names if self.names is not None else [Path(p).name for p in self.paths]
        quantities = self.quantities if self.quantities is not None else np.ones(n, np.int64)
        return [
            StockItem(str(skus[i]), str(names[i]), Path(str(self.paths[i])), int(quantities[i]))
            for i in range(n)
        ]


@dataclass(frozen=True)
class Match:
    sku: str
    name: str
    path: str  # the photo
    quantity: int
    class_name: str
    distance: float


def embedder(keras_model: Any) -> keras.Model:
    """The same network cut before its classifier: outputs of the penultimate layer."""
    # Behind test-time augmentation: the network itself, on the photo as uploaded.
    network = classifier_of(keras_model)
    return keras.Model(network.inputs[0], network.layers[-2].output)


def embed(keras_model: Any, images: list[bytes]) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Embeddings and predicted classes of the good images, and the error of each bad one."""
    batch, _good, errors = prepare_all(images)
    if len(batch) == 0:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), errors
    features, classes = _embed_batch(keras_model, batch)
    return features, classes, errors


def _embed_batch(
    keras_model: Any, batch: np.ndarray, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and predicted classes, `chunk` images per forward pass (bounded memory)."""
    cut = embedder(keras_model)
    features, classes = [], []
    for start in range(0, len(batch), chunk):
        part = batch[start : start + chunk]
        features.append(np.asarray(cut(part, training=False)).reshape(len(part), -1))
        classes.append(np.asarray(keras_model(part, training=False)).argmax(axis=1))
    return np.concatenate(features).astype(np.float32), np.concatenate(classes)


def build(
    keras_model: Any, items: list[StockItem], model: dict[str, str]
) -> tuple[Catalog, dict[str, str]]:
    """The catalog of the items whose photo is readable; the error of each other, by sku."""
    # One photo at a time to its 28x28 input: a large stock never sits in memory whole, and
    # each file is checked against the byte limit before it is read.
    inputs: dict[str, np.ndarray] = {}
    indexed: list[StockItem] = []
    errors: dict[str, str] = {}
    for item in items:
        try:
            inputs[item.sku] = prepare(read_file(item.photo))
            indexed.append(item)
        except ImageError as err:
            errors[item.sku] = str(err)
    built_at = datetime.now(UTC).isoformat(timespec="seconds")
    if not inputs:
        features = np.zeros((0, 0), np.float32)
        classes = np.zeros(0, np.int64)
    else:
        features, classes = _embed_batch(keras_model, np.stack(list(inputs.values())))
    catalog = Catalog(
        features,
        classes,
        np.array([str(i.photo) for i in indexed], dtype=str),
        model,
        skus=np.array([i.sku for i in indexed], dtype=str),
        names=np.array([i.name for i in indexed], dtype=str),
        quantities=np.array([i.quantity for i in indexed], dtype=np.int64),
        built_at=built_at,
    )
    return catalog, errors


def save(catalog: Catalog, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:  # a file object: np.savez would append .npz to the name
            np.savez(
                f,
                embeddings=catalog.embeddings,
                classes=catalog.classes,
                paths=catalog.paths,
                model=np.array(json.dumps(catalog.model)),
                **_optional_arrays(catalog),  # type: ignore[arg-type]
            )
    except OSError as err:
        raise CatalogError(f"cannot write catalog index {path}: {err}") from err


def _optional_arrays(catalog: Catalog) -> dict[str, np.ndarray]:
    arrays = {"skus": catalog.skus, "names": catalog.names, "quantities": catalog.quantities}
    present = {key: value for key, value in arrays.items() if value is not None}
    return {**present, "built_at": np.array(catalog.built_at)}


def load(path: Path) -> Catalog:
    try:
        with np.load(path, allow_pickle=False) as data:
            return Catalog(
                data["embeddings"],
                data["classes"],
                data["paths"],
                json.loads(str(data["model"])),
                skus=data.get("skus"),  # None in an index from before skus
                names=data.get("names"),
                quantities=data.get("quantities"),
                built_at=str(data.get("built_at", "")),
            )
    except (OSError, ValueError, KeyError) as err:
        raise CatalogError(f"cannot read catalog index {path}: {err}") from err


def check_version(catalog: Catalog, name: str, version: str) -> None:
    """Raise unless the catalog was embedded by model `name` version `version`."""
    made = catalog.model
    if (made.get("name"), made.get("version")) != (name, version):
        raise CatalogError(
            f"the catalog index was built with {made.get('name')} version {made.get('version')}, "
            f"but the model is {name} version {version}: embeddings of different versions do "
            "not compare; rebuild it with `optuna-run catalog index STOCK`"
        )


class SearchIndex:
    """Exact cosine search among the items in stock of one class: one faiss `IndexFlatIP` of
    unit vectors per class, built when the catalog loads (or the stock changes), never per
    request (faiss over scikit-learn's brute force by measurement: bench/catalog_search.py).

    `stock`: the stock as it is now, joined by sku: an item sold out, gone from the file or
    with another photo than the one embedded is not shown; None shows the items as indexed.
    """

    def __init__(self, catalog: Catalog, stock: list[StockItem] | None = None) -> None:
        faiss.omp_set_num_threads(1)  # a query is microseconds; the model wants the cores
        self.catalog = catalog
        indexed = catalog.items()
        now = {item.sku: item for item in stock} if stock is not None else None
        shown: list[int] = []
        self.items: list[StockItem] = []
        for row, item in enumerate(indexed):
            current = item if now is None else now.get(item.sku)
            if current is None or current.photo != item.photo or current.quantity <= 0:
                continue
            shown.append(row)
            self.items.append(current)
        # Items in the stock file that the index does not hold (new, or with a new photo).
        embedded = {(i.sku, i.photo) for i in indexed}
        self.unindexed = (
            0 if now is None else sum((i.sku, i.photo) not in embedded for i in now.values())
        )
        self._by_sku = {item.sku: item for item in self.items}
        rows = np.array(shown, dtype=np.int64)
        classes = catalog.classes[rows] if rows.size else np.zeros(0, np.int64)
        self._by_class: dict[int, tuple[np.ndarray, faiss.IndexFlatIP]] = {}
        for label in np.unique(classes):
            members = np.flatnonzero(classes == label)
            vectors = _unit(catalog.embeddings[rows[members]])
            search = faiss.IndexFlatIP(vectors.shape[1])
            search.add(vectors)
            self._by_class[int(label)] = (members, search)

    def __len__(self) -> int:
        return len(self.items)

    def item(self, sku: str) -> StockItem | None:
        """The item with this sku if it is shown (in stock and indexed)."""
        return self._by_sku.get(sku)

    def nearest(self, features: np.ndarray, predicted: int, k: int) -> list[Match]:
        """The k items in stock of class `predicted` closest to one embedding."""
        if predicted not in self._by_class:
            return []
        members, search = self._by_class[predicted]
        similarity, found = search.search(_unit(features.reshape(1, -1)), min(k, members.size))
        return [
            self._match(int(members[j]), predicted, 1.0 - float(s))  # cosine distance
            for s, j in zip(similarity[0], found[0], strict=True)
        ]

    def _match(self, position: int, predicted: int, distance: float) -> Match:
        item = self.items[position]
        return Match(
            item.sku, item.name, str(item.photo), item.quantity, CLASS_NAMES[predicted], distance
        )


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (an all-zero row stays zero), float32, contiguous for faiss."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def similar(index: SearchIndex, keras_model: Any, image: bytes, k: int) -> tuple[str, list[Match]]:
    """The query's predicted class and the k closest stock items of that class (cosine distance)."""
    features, classes, errors = embed(keras_model, [image])
    if errors:
        raise ImageError(errors[0])
    predicted = int(classes[0])
    return CLASS_NAMES[predicted], index.nearest(features[0], predicted, k)
