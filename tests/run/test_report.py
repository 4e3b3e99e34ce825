"""`optuna-run report` of a designed experiment, on a tiny real grid: 2 families x 2 depths x
2 epochs x 2 seeds on 600 real images, trained and reported as a user would."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from fashion_models.analysis.stats import NO, UNDECIDED, YES, verdict_text
from tests.helpers import cli, write_yaml

pytestmark = pytest.mark.slow

SPACE = """
model: cnn
params:
  conv_layout: {type: categorical, choices: [plain, blocks]}
  conv_layers: {type: categorical, choices: [1, 2]}
  filters: {type: fixed, value: 8}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 16}
  epochs: {type: fixed, value: 2}
"""
STUDY = """
study: {{name: design, n_trials: 8, repeats: 2, seed: 5}}
storage: sqlite:///{store}/optuna.db
sampler: grid
pruner: none
search_space: space.yaml
data: {{train_size: 600, test_size: 300}}
tracking: {{uri: "sqlite:///{store}/mlflow.db"}}
registry: {{model_name: design-model, promote: never}}
design:
  factor: conv_layers
  family: conv_layout
  reference: {{conv_layout: plain, conv_layers: 1, epochs: 2}}
"""


def test_report_of_a_tiny_grid_has_table_figures_and_verdict(tmp_path: Path) -> None:
    write_yaml(tmp_path, SPACE, "space.yaml")
    study = write_yaml(tmp_path, STUDY.format(store=tmp_path / "store"), "design.yaml")
    assert cli("run", str(study)).exit_code == 0
    out = tmp_path / "report"
    result = cli("report", str(study), "--out", str(out))
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    # The table: every (family, depth, epochs) cell over both seeds, CPU and wall seconds.
    for family in ("plain", "blocks"):
        for depth in (1, 2):
            for epochs in (1, 2):
                assert f"\n| {family} | {depth} | {epochs} | 2 | " in text
    assert "| CPU s | wall s |" in text
    # A verdict for each family and one for the reference's epochs, all generated; the
    # command printed the same sentences.
    allowed = {YES, NO, UNDECIDED, verdict_text("equivalent", 0.003)}
    verdicts = [part.split("**")[0] for part in text.split("Verdict: **")[1:]]
    assert len(verdicts) == 3 and set(verdicts) <= allowed, verdicts
    for section in ("### Family plain", "### Family blocks", "### Fewer epochs of the reference"):
        sentence = text.split(f"{section}\n\n**")[1].split("**\n")[0]
        assert sentence in result.output
    advice = text.split("## What to do\n\n")[1].split("\n")[0]
    assert advice.startswith("Within the ") and advice in result.output
    for figure in ("accuracy_vs_epochs.png", "accuracy_vs_time.png", "overfitting_gap.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
        assert f"]({figure})" in text
    with (out / "cells.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16  # 2 families x 2 depths x 2 epochs x 2 seeds
    assert {r["seed"] for r in rows} == {"5", "6"}  # study.seed + replicate
    assert {r["conv_layout"] for r in rows} == {"plain", "blocks"}
    assert all(float(r["train_cpu_seconds"]) > 0 for r in rows)
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
