"""A real champion for the serving tests: one small study on real data, registered in a real
MLflow store, run once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fashion_models.run.runner import run_study
from fashion_models.spec.config import load_config
from fashion_models.track import experiment as tracking
from fashion_models.train.data import FashionMNIST, Splits, make_splits

# Two epochs on 4,800 images: about 80% test accuracy in a few seconds on 2 cores.
SPACE = """
model: cnn
params:
  conv_layers: {type: fixed, value: 2}
  filters: {type: fixed, value: [16, 32], per_layer: conv_layers}
  pooling: {type: fixed, value: max}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 64}
  learning_rate: {type: fixed, value: 0.002}
  batch_size: {type: fixed, value: 64}
  epochs: {type: fixed, value: 2}
"""
MODEL_NAME = "shop-model"


@dataclass(frozen=True)
class Champion:
    tracking_uri: str
    model_uri: str  # models:/shop-model@champion
    version: str
    test: Splits  # the study's own test split: what the model's test accuracy was measured on

    def connect(self) -> None:
        """Point this process at the champion's store (other tests move the global URI)."""
        tracking.connect(self.tracking_uri)


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory, fashion_mnist: FashionMNIST) -> Champion:
    root = tmp_path_factory.mktemp("champion")
    (root / "space.yaml").write_text(SPACE)
    uri = f"sqlite:///{root}/store/mlflow.db"
    (root / "shop.yaml").write_text(
        f"""
study: {{name: shop, n_trials: 1, seed: 0}}
storage: sqlite:///{root}/store/optuna.db
sampler: {{type: random}}
pruner: {{type: none}}
search_space: space.yaml
data: {{train_size: 6000, test_size: 500, validation_split: 0.2}}
tracking: {{uri: "{uri}", experiment: shop}}
registry: {{model_name: {MODEL_NAME}, promote: always}}
"""
    )
    _, promotion = run_study(load_config(root / "shop.yaml", env={}), echo=lambda _: None)
    assert promotion is not None and promotion.promoted
    splits = make_splits(fashion_mnist, validation_split=0.2, train_size=6000, test_size=500)
    return Champion(uri, f"models:/{MODEL_NAME}@champion", promotion.version, splits)


@pytest.fixture
def store_dir(champion: Champion) -> Path:
    return Path(champion.tracking_uri.removeprefix("sqlite:///")).parent
