"""Similar items in stock: stock photos embedded by the champion, searched by nearest neighbours.

An index file (.npz, no pickles) holds one embedding per stock photo (the Keras model's
penultimate layer on the preprocessed photo), its predicted class and path, and the model
version that made it. Embeddings of two versions are not comparable: when the champion
changes, the index must be rebuilt, and `check_version` says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.neighbors import NearestNeighbors

from fashion_models.errors import FatalError
from fashion_models.serving.images import ImageError, read_file
from fashion_models.serving.pyfunc import prepare, prepare_all
from fashion_models.train.data import CLASS_NAMES
from fashion_models.train.model import classifier_of

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


class CatalogError(FatalError):
    """The index cannot be used (missing, unreadable, or made by another model version)."""


@dataclass(frozen=True)
class Catalog:
    """The stock photos' embeddings, predicted classes and paths, and the model that made them."""

    embeddings: np.ndarray  # (n, d) float32
    classes: np.ndarray  # (n,) int, index into CLASS_NAMES
    paths: np.ndarray  # (n,) str
    model: dict[str, str]  # name, version, uri of the model that embedded them


@dataclass(frozen=True)
class Match:
    path: str
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


def stock_photos(directory: Path) -> list[Path]:
    """Image files under `directory` (recursively, by suffix), sorted."""
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def build(
    keras_model: Any, directory: Path, model: dict[str, str]
) -> tuple[Catalog, dict[Path, str]]:
    """The catalog of the readable stock photos under `directory`; the error of each other."""
    # One photo at a time to its 28x28 input: a large stock folder never sits in memory whole,
    # and each file is checked against the byte limit before it is read.
    inputs: dict[Path, np.ndarray] = {}
    errors: dict[Path, str] = {}
    for path in stock_photos(directory):
        try:
            inputs[path] = prepare(read_file(path))
        except ImageError as err:
            errors[path] = str(err)
    if not inputs:
        empty = Catalog(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.array([]), model)
        return empty, errors
    features, classes = _embed_batch(keras_model, np.stack(list(inputs.values())))
    catalog = Catalog(features, classes, np.array([str(p) for p in inputs]), model)
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
            )
    except OSError as err:
        raise CatalogError(f"cannot write catalog index {path}: {err}") from err


def load(path: Path) -> Catalog:
    try:
        with np.load(path, allow_pickle=False) as data:
            return Catalog(
                data["embeddings"], data["classes"], data["paths"], json.loads(str(data["model"]))
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
            "not compare; rebuild it with `optuna-run catalog index DIR`"
        )


def similar(catalog: Catalog, keras_model: Any, image: bytes, k: int) -> tuple[str, list[Match]]:
    """The query's predicted class and the k closest stock items of that class (cosine distance)."""
    features, classes, errors = embed(keras_model, [image])
    if errors:
        raise ImageError(errors[0])
    predicted = int(classes[0])
    same = np.flatnonzero(catalog.classes == predicted)
    if same.size == 0:
        return CLASS_NAMES[predicted], []
    index = NearestNeighbors(n_neighbors=min(k, same.size), metric="cosine", algorithm="brute")
    index.fit(catalog.embeddings[same])
    distances, found = index.kneighbors(features)
    matches = [
        Match(str(catalog.paths[same[j]]), CLASS_NAMES[predicted], float(d))
        for d, j in zip(distances[0], found[0], strict=True)
    ]
    return CLASS_NAMES[predicted], matches
