"""`optuna-run report` of a designed experiment, on a tiny real grid: 2 depths x 2 epochs x 2
seeds on 600 real images, trained and reported as a user would."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from fashion_models.analysis.stats import NO, UNDECIDED, YES
from tests.helpers import cli, write_yaml

pytestmark = pytest.mark.slow

SPACE = """
model: cnn
params:
  conv_layers: {type: categorical, choices: [1, 2]}
  filters: {type: fixed, value: 8}
  pooling: {type: fixed, value: max}
  padding: {type: fixed, value: same}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 16}
  epochs: {type: fixed, value: 2}
"""
STUDY = """
study: {{name: design, n_trials: 4, repeats: 2, seed: 5}}
storage: sqlite:///{store}/optuna.db
sampler: grid
pruner: none
search_space: space.yaml
data: {{train_size: 600, test_size: 300}}
tracking: {{uri: "sqlite:///{store}/mlflow.db"}}
registry: {{model_name: design-model, promote: never}}
design: {{factor: conv_layers, reference: {{conv_layers: 1, epochs: 2}}}}
"""


def test_report_of_a_tiny_grid_has_table_figures_and_verdict(tmp_path: Path) -> None:
    write_yaml(tmp_path, SPACE, "space.yaml")
    study = write_yaml(tmp_path, STUDY.format(store=tmp_path / "store"), "design.yaml")
    assert cli("run", str(study)).exit_code == 0
    out = tmp_path / "report"
    result = cli("report", str(study), "--out", str(out))
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    # The table: every (depth, epochs) cell over both seeds.
    for depth in (1, 2):
        for epochs in (1, 2):
            assert f"\n| {depth} | {epochs} | 2 | " in text
    # The verdict and its sentence are generated, and the command printed the same sentence.
    verdict = text.split("Verdict: **")[1].split("**")[0]
    assert verdict in (YES, NO, UNDECIDED)
    sentence = text.split("## Answer\n\n**")[1].split("**\n")[0]
    assert sentence in result.output
    for figure in ("accuracy_vs_epochs.png", "accuracy_vs_time.png", "overfitting_gap.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
        assert f"]({figure})" in text
    with (out / "cells.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8  # 2 depths x 2 epochs x 2 seeds
    assert {r["seed"] for r in rows} == {"5", "6"}  # study.seed + replicate
    # What was run and reported is on the study run too.
    client = MlflowClient(f"sqlite:///{tmp_path}/store/mlflow.db")
    run_id = client.search_runs(
        [client.get_experiment_by_name("design").experiment_id],
        filter_string="tags.`optuna.kind` = 'study'",
    )[0].info.run_id
    logged = {a.path for a in client.list_artifacts(run_id, "design")}
    assert "design/report.md" in logged and "design/cells.csv" in logged

    # The same study read through a file without `design:` gets its figures redrawn only.
    plain = write_yaml(tmp_path, study.read_text().split("design:")[0], "plain.yaml")
    result = cli("report", str(plain), "--out", str(tmp_path / "plain-report"))
    assert result.exit_code == 0 and "design report" not in result.output
    assert not (tmp_path / "plain-report").exists()
