"""Tests for fashion_models.serving.catalog: `optuna-run catalog index` and `optuna-run
similar` on a folder of real stock photos."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from fashion_models.serving.catalog import embed, embedder
from fashion_models.serving.pyfunc import prepare
from fashion_models.train.model import build, with_tta
from tests.helpers import Champion
from tests.serving.photos import photo

pytestmark = pytest.mark.slow


def test_a_resized_copy_of_a_stock_photo_finds_that_item_first(
    champion: Champion, tmp_path: Path
) -> None:
    stock = tmp_path / "stock"
    (stock / "new").mkdir(parents=True)
    for i in range(40):
        folder = stock / "new" if i % 2 else stock
        (folder / f"item-{i}.jpg").write_bytes(photo(champion.test.x_test[i], "JPEG", shift=i))
    (stock / "broken.png").write_text("not an image")
    with open(stock / "huge.jpg", "wb") as huge:  # over the byte limit: refused before reading
        huge.truncate(21 * 1024 * 1024)
    index = tmp_path / "index" / "catalog.npz"

    code, output = champion.cli("catalog", "index", str(stock), "--out", str(index))
    assert code == 1  # two stock photos could not be read; the rest are indexed
    assert f"{stock / 'broken.png'}: error: not a readable image" in output
    assert f"{stock / 'huge.jpg'}: error: file too large" in output
    assert (
        f"indexed 40 stock photos into {index} with shop-model version {champion.version}" in output
    )

    for i in (3, 10, 27):
        item = next(stock.rglob(f"item-{i}.jpg"))
        smaller = Image.open(item).reduce(2)  # half size, as a customer might re-upload it
        buffer = io.BytesIO()
        smaller.save(buffer, "PNG")
        query = tmp_path / f"query-{i}.png"
        query.write_bytes(buffer.getvalue())
        code, output = champion.cli(
            "similar", str(query), "--catalog", str(index), "-k", "5", "--json"
        )
        assert code == 0, output
        answer = json.loads(output)
        assert answer["similar"][0]["path"] == str(item)
        distances = [m["distance"] for m in answer["similar"]]
        assert distances == sorted(distances) and len(distances) <= 5


def test_an_index_from_another_model_version_must_be_rebuilt(
    champion: Champion, tmp_path: Path
) -> None:
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "a.jpg").write_bytes(photo(champion.test.x_test[0], "JPEG"))
    index = tmp_path / "catalog.npz"
    code, _ = champion.cli("catalog", "index", str(stock), "--out", str(index))
    assert code == 0
    # The champion moves to a new version (the same network registered again, as a new
    # version would be): the index made with the old one is refused, with the fix.
    champion.connect()
    client = MlflowClient()
    source = client.get_model_version("shop-model", champion.version).source
    newer = mlflow.register_model(source, "shop-model")
    client.set_registered_model_alias("shop-model", "champion", newer.version)
    try:
        code, output = champion.cli("similar", str(stock / "a.jpg"), "--catalog", str(index))
    finally:
        client.set_registered_model_alias("shop-model", "champion", champion.version)
    assert code == 1
    assert f"built with shop-model version {champion.version}" in output
    assert f"the model is shop-model version {newer.version}" in output
    assert "rebuild it with `optuna-run catalog index STOCK`" in output


def test_a_tta_model_embeds_with_the_network_inside(garments: np.ndarray) -> None:
    """Behind test-time augmentation the embedding is the network's penultimate layer on the
    photo as uploaded (not the wrapper's flip layer); its classes are the TTA model's."""
    keras.utils.set_random_seed(0)
    network = build("cnn", {"conv_layers": 1, "filters": 4, "dense_units": 12})
    wrapped = with_tta(network, "flip")
    photos = [photo(image, "PNG") for image in garments]
    inputs = np.stack([prepare(p) for p in photos])
    cut = embedder(wrapped)
    assert cut.output.shape == (None, 12)
    inside = keras.Model(network.inputs[0], network.get_layer("dense_0").output)
    np.testing.assert_allclose(cut(inputs), inside(inputs), rtol=1e-6)
    features, classes, errors = embed(wrapped, photos)
    assert errors == {} and features.shape == (len(photos), 12)
    np.testing.assert_array_equal(classes, np.asarray(wrapped(inputs)).argmax(axis=1))
    keras.backend.clear_session()


def test_the_search_index_shows_what_is_in_stock_now(tmp_path: Path) -> None:
    """Quantities and names come from the stock as it is now; an item sold out, gone from the
    stock file or photographed anew is not shown; one not yet indexed is counted."""
    from fashion_models.serving.catalog import Catalog, SearchIndex
    from fashion_models.serving.stock import StockItem

    rng = np.random.default_rng(0)
    photos = [tmp_path / f"{i}.jpg" for i in range(5)]
    built = Catalog(
        rng.normal(size=(5, 8)).astype(np.float32),
        np.array([0, 0, 0, 1, 1]),
        np.array([str(p) for p in photos]),
        {"name": "m", "version": "1"},
        skus=np.array(["a", "b", "c", "d", "e"]),
        names=np.array(["A", "B", "C", "D", "E"]),
        quantities=np.array([1, 1, 1, 1, 1]),
    )
    now = [
        StockItem("a", "A renamed", photos[0], 5),
        StockItem("b", "B", photos[1], 0),  # sold out
        StockItem("c", "C", tmp_path / "new-c.jpg", 1),  # a new photo: not the one embedded
        StockItem("d", "D", photos[3], 2),
        StockItem("f", "F", tmp_path / "f.jpg", 1),  # not indexed yet ("e" is gone)
    ]
    index = SearchIndex(built, now)
    assert [item.sku for item in index.items] == ["a", "d"] and index.unindexed == 2
    [match] = index.nearest(built.embeddings[1], 0, k=5)  # class 0: only "a" is shown
    assert (match.sku, match.name, match.quantity) == ("a", "A renamed", 5)
    assert index.nearest(built.embeddings[3], 1, k=5)[0].distance == pytest.approx(0, abs=1e-6)
    assert index.nearest(built.embeddings[3], 7, k=5) == []  # a class with nothing in stock
    assert index.item("b") is None and index.item("d") == now[3]
