"""The shop's service for the api tests: one real `optuna-run serve` process for the package,
serving a model that a tiny real study registered (the champion of tests/conftest.py, registered
again under a name of its own, so moving this alias touches no other test) and a real stock
CSV of photos made from real test images."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import Champion, free_port, serving
from tests.serving.photos import photo

MODEL = "shop-service"
ITEMS = 40


@dataclass
class Service:
    url: str
    log: Path
    stock: Path  # the CSV
    photos: dict[str, Path]  # sku -> photo
    labels: dict[str, int]  # sku -> the garment's true class
    champion: Champion

    def client(self) -> MlflowClient:
        self.champion.connect()
        return MlflowClient()

    def register_again(self) -> str:
        """The service's model registered as a new version (same network): its version."""
        client = self.client()
        source = client.get_model_version("shop-model", self.champion.version).source
        return str(mlflow.register_model(source, MODEL).version)

    def move_alias(self, version: str) -> None:
        self.client().set_registered_model_alias(MODEL, "champion", version)

    def alias_version(self) -> str:
        return str(self.client().get_model_version_by_alias(MODEL, "champion").version)


def quantity(i: int) -> int:
    """Every fourth item is sold out."""
    return 0 if i % 4 == 0 else i % 7 + 1


def write_stock(
    directory: Path, champion: Champion
) -> tuple[Path, dict[str, Path], dict[str, int]]:
    (directory / "photos").mkdir(parents=True)
    rows = ["sku,name,photo,quantity"]
    photos, labels = {}, {}
    for i in range(ITEMS):
        sku = f"SKU-{i:03d}"
        path = directory / "photos" / f"{i}.jpg"
        path.write_bytes(photo(champion.test.x_test[i], "JPEG", shift=i))
        rows.append(f'{sku},"Item {i}, as photographed",photos/{i}.jpg,{quantity(i)}')
        photos[sku], labels[sku] = path, int(champion.test.y_test[i])
    stock = directory / "stock.csv"
    stock.write_text("\n".join(rows) + "\n")
    return stock, photos, labels


@pytest.fixture(scope="package")
def service(champion: Champion, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("service")
    stock, photos, labels = write_stock(root, champion)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    shop = Service(url, root / "serve.log", stock, photos, labels, champion)
    shop.move_alias(shop.register_again())
    command = [sys.executable, "-m", "fashion_models.cli", "serve", "--catalog", str(stock),
               "--model", f"models:/{MODEL}@champion", "--tracking-uri", champion.tracking_uri,
               "--port", str(port), "--poll-seconds", "0.5"]  # fmt: skip
    with serving(command, f"{url}/readyz", shop.log, timeout=180):
        yield shop
