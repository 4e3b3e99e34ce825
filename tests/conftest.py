"""Shared fixtures: the real Fashion-MNIST files, small splits of them, scratch copies, a
PostgreSQL database, and the two studies that several directories read back (`finished`,
`champion`), each trained once per session."""

from __future__ import annotations

import os

# Before anything imports TensorFlow: quiet its C++ logging, and pin the backend the project
# is pinned to (keras.json or a stray KERAS_BACKEND could name another).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import gzip  # noqa: E402
import shutil  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from fashion_models.train.data import (  # noqa: E402
    FILES,
    FashionMNIST,
    Splits,
    load_fashion_mnist,
    make_splits,
)
from tests.helpers import TINY_CNN, Champion, cli, stop_started, write_study  # noqa: E402

PG_SERVER = "postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def fashion_mnist() -> FashionMNIST:
    """The real, verified data set, loaded once per test session."""
    return load_fashion_mnist()


@pytest.fixture(scope="session")
def small_splits(fashion_mnist: FashionMNIST) -> Splits:
    """480 train / 120 validation / 500 test images, stratified, seed 0."""
    return make_splits(fashion_mnist, validation_split=0.2, train_size=600, test_size=500, seed=0)


@pytest.fixture
def data_dir_copy(tmp_path: Path, fashion_mnist: FashionMNIST) -> Path:
    """A fresh directory holding the four real files as `<stem>.gz`, safe to corrupt.

    Real copies, not symlinks: a test that rewrites one must never reach the shared original.
    """
    source = Path(fashion_mnist.source)
    if not source.is_dir():
        pytest.skip(f"no local copy of Fashion-MNIST to duplicate (came from {source})")
    target = tmp_path / "fashion-mnist"
    target.mkdir()
    for stem in FILES.values():
        if (source / f"{stem}.gz").is_file():
            shutil.copyfile(source / f"{stem}.gz", target / f"{stem}.gz")
        else:  # an uncompressed original: gzip it, so every test sees the same layout
            (target / f"{stem}.gz").write_bytes(
                gzip.compress((source / stem).read_bytes(), compresslevel=1)
            )
    return target


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A failed test must not leave the `optuna-run` workers it started running."""
    yield
    stop_started()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server beside the tests, dropped afterwards."""
    import psycopg

    name = f"fm_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):  # CI's machine has the server: its absence is a failure there
            pytest.fail(f"no PostgreSQL server at {PG_SERVER}: {exc}")
        pytest.skip(f"no PostgreSQL server at {PG_SERVER}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://{PG_SERVER}/{name}"
    with psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_databases(pg_url: str) -> Iterator[Callable[[], str]]:
    """More fresh databases beside `pg_url` (e.g. a second one for MLflow), each made on
    demand and dropped afterwards."""
    import psycopg

    made: list[str] = []

    def make() -> str:
        name = f"fm_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgresql+psycopg://{PG_SERVER}/{name}"

    yield make
    with psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- finished study

# One or two conv layers, one or two epochs: the study-level figures have something to show.
FINISHED_SPACE = TINY_CNN.replace(
    "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: int, low: 1, high: 2}"
).replace("epochs: {type: fixed, value: 1}", "epochs: {type: categorical, choices: [1, 2]}")


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny study (3 trials and a final retrain, driven through the CLI), read
    back by the tests of search/, track/, run/ and cli/; its study file's path.

    The registered model `tiny-model` and its @champion alias are the study's own: tests that
    register or promote more use another model name, so the order of the tests never matters.
    """
    tmp = tmp_path_factory.mktemp("finished")
    path = write_study(
        tmp,
        n_trials=3,
        space=FINISHED_SPACE,
        extra="final: {epochs: 1, data: train+validation, train_size: 800}",
    )
    result = cli(str(path))
    assert result.exit_code == 0, result.output
    return path


# --------------------------------------------------------------------------- champion

# Two epochs on 4,800 images: about 80% test accuracy in a few seconds on 2 cores. Whitened,
# as the quickstart's model is: the served model carries the layer set from the data.
CHAMPION_SPACE = """
model: cnn
params:
  conv_layers: {type: fixed, value: 2}
  filters: {type: fixed, value: [16, 32], per_layer: conv_layers}
  pooling: {type: fixed, value: max}
  whitening: {type: fixed, value: 2}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 64}
  learning_rate: {type: fixed, value: 0.002}
  batch_size: {type: fixed, value: 64}
  epochs: {type: fixed, value: 2}
"""
CHAMPION_MODEL = "shop-model"


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory, fashion_mnist: FashionMNIST) -> Champion:
    """A real champion for the serving tests: one small study on real data, registered in a
    real MLflow store."""
    from fashion_models.config.study_file import load_config
    from fashion_models.run.runner import run_study

    root = tmp_path_factory.mktemp("champion")
    (root / "space.yaml").write_text(CHAMPION_SPACE)
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
registry: {{model_name: {CHAMPION_MODEL}, promote: always}}
"""
    )
    _, promotion = run_study(load_config(root / "shop.yaml", env={}), echo=lambda _: None)
    assert promotion is not None and promotion.promoted
    splits = make_splits(fashion_mnist, validation_split=0.2, train_size=6000, test_size=500)
    return Champion(uri, f"models:/{CHAMPION_MODEL}@champion", promotion.version, splits)
