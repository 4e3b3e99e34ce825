"""Writing small real study and search-space files into a test's tmp dir."""

from __future__ import annotations

import textwrap
from pathlib import Path

# Two pooled conv layers, 1 epoch: about 2 s a trial on 480 images and 2 cores.
TINY_CNN = """
model: cnn
params:
  conv_layers: {type: fixed, value: 2}
  filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}
  kernel_size: {type: fixed, value: 3}
  pooling: {type: fixed, value: max}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 32}
  learning_rate: {type: float, low: 1.0e-3, high: 5.0e-3, log: true}
  batch_size: {type: fixed, value: 32}
  epochs: {type: fixed, value: 1}
"""


def write_study(
    tmp_path: Path,
    *,
    name: str = "tiny",
    n_trials: int = 2,
    space: str = TINY_CNN,
    sampler: str = "{type: random}",
    pruner: str = "{type: none}",
    registry: str = "{model_name: tiny-model, promote: if_better}",
    extra: str = "",
) -> Path:
    """A study on 600 training / 500 test images with stores under tmp_path/store."""
    (tmp_path / f"{name}_space.yaml").write_text(textwrap.dedent(space))
    study = f"""
study: {{name: {name}, n_trials: {n_trials}, seed: 3}}
storage: sqlite:///{tmp_path}/store/optuna.db
sampler: {sampler}
pruner: {pruner}
search_space: {name}_space.yaml
data: {{train_size: 600, test_size: 500, validation_split: 0.2}}
tracking: {{uri: "sqlite:///{tmp_path}/store/mlflow.db", experiment: {name}}}
registry: {registry}
{extra}"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(study)
    return path
