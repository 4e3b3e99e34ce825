"""A multi-objective study (`study.metrics: [val_accuracy, <cost>]`): Optuna's Pareto front over
accuracy and a serving cost, pruned by `pruner: pareto` (which Optuna has no equivalent of),
the front in `status` and in the study run, and the registered model chosen on the front or by
`registry.choose`. Real training on small real data, real stores; the study is continued with
one fixed configuration per sitting, so which trial meets which is known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from fashion_models.search.pareto_pruning import INTERMEDIATE, PRUNED_BY
from tests.helpers import cli, run_study_file, write_study

pytestmark = pytest.mark.slow


def _space(units: int, learning_rate: float, epochs: int = 2) -> str:
    """One fixed MLP: `units` wide (7,960 weights for 10, 407,050 for 512), its rate."""
    return f"""
model: mlp
params:
  dense_layers: {{type: fixed, value: 1}}
  dense_units: {{type: fixed, value: {units}}}
  learning_rate: {{type: fixed, value: {learning_rate}}}
  batch_size: {{type: fixed, value: 32}}
  epochs: {{type: fixed, value: {epochs}}}
"""


def _study(tmp_path: Path, space: str, n_trials: int, registry: str = "") -> Path:
    return write_study(
        tmp_path,
        space=space,
        n_trials=n_trials,
        pruner="{type: pareto, n_startup_trials: 1, n_warmup_steps: 0, n_min_trials: 1}",
        registry="{model_name: tiny-model, promote: always" + registry + "}",
    )


@pytest.fixture(scope="module")
def study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sittings of one study on [val_accuracy, params]: a narrow model that learns
    slowly (trial 0), a wide one that hardly learns (trial 1, pruned by trial 0 at its first
    epoch), a wide one that learns fast for longer (trial 2, on the front beside trial 0)."""
    tmp_path = tmp_path_factory.mktemp("multi")
    sittings = [
        (_space(10, 3e-4), 1),
        (_space(512, 1e-7), 2),
        (_space(512, 3e-3, epochs=4), 3),
    ]
    for space, n_trials in sittings:
        path = _study(tmp_path, space, n_trials)
        text = path.read_text().replace("study: {", "study: {metrics: [val_accuracy, params], ")
        path.write_text(text)
        run_study_file(path)
    return path


def test_a_trial_that_a_cheaper_one_was_ahead_of_is_pruned(study_file: Path) -> None:
    shown = json.loads(cli("status", str(study_file), "--json").output)
    trials = {row["number"]: row for row in shown["trials"]}
    assert [trials[n]["state"] for n in (0, 1, 2)] == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert trials[1]["pruned_at_step"] == 0

    from fashion_models.config.study_file import load_config
    from fashion_models.search.study import load_existing_study

    study = load_existing_study(load_config(study_file, env={}))
    narrow, wide_slow, wide = (study.trials[n] for n in (0, 1, 2))
    assert wide_slow.user_attrs[PRUNED_BY] == 0
    # Pruned on the numbers it saw: trial 0 cost fewer weights and was ahead at epoch 0.
    assert narrow.user_attrs["params"] < wide_slow.user_attrs["params"]
    assert narrow.user_attrs[INTERMEDIATE]["0"] > wide_slow.user_attrs[INTERMEDIATE]["0"]
    assert list(wide_slow.user_attrs[INTERMEDIATE]) == ["0"]  # it trained one epoch
    run = MlflowClient().get_run(wide_slow.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["pruned_at_epoch"] == "0"
    # The wide model that learns was not pruned: nothing that cost no more was ahead of it.
    assert wide.state == TrialState.COMPLETE and len(wide.user_attrs[INTERMEDIATE]) == 4
    assert wide.values[1] == wide.user_attrs["params"] == 407_050
    assert wide.values[0] > narrow.values[0]


def test_the_front_is_shown_and_logged_and_the_most_accurate_trial_registered(
    study_file: Path,
) -> None:
    shown = json.loads(cli("status", str(study_file), "--json").output)
    assert shown["metrics"] == ["val_accuracy", "params"]
    assert shown["front"] == [0, 2]
    assert shown["best"]["number"] == 2
    table = cli("status", str(study_file)).output
    assert "Pareto front (val_accuracy, params; * above): trials [0, 2]" in table
    assert "COMPLETE *" in table

    client = MlflowClient()
    study_run = client.get_run(shown["study_run_id"])
    artifacts = {a.path for a in client.list_artifacts(study_run.info.run_id, "study")}
    assert {"study/pareto_front.png", "study/pareto_front.json"} <= artifacts
    front = json.loads(
        Path(
            client.download_artifacts(study_run.info.run_id, "study/pareto_front.json")
        ).read_text()
    )
    assert front["columns"][:3] == ["trial", "val_accuracy", "test_accuracy"]
    assert [row[0] for row in front["data"]] == [0, 2]

    # The end of the last sitting registered the most accurate trial of the front.
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert version.tags["optuna.trial"] == "2"
    assert float(version.tags["params"]) == 407_050


def test_registry_choose_takes_the_most_accurate_trial_within_its_costs(
    study_file: Path,
) -> None:
    text = study_file.read_text().replace(
        "promote: always", "promote: always, choose: {params: 50000}"
    )
    study_file.write_text(text)
    shown = json.loads(cli("status", str(study_file), "--json").output)
    assert shown["best"]["number"] == 0  # trial 2 is more accurate, and over 50,000 weights
    promoted = cli("promote", str(study_file), "--alias", "small")
    assert promoted.exit_code == 0, promoted.output
    version = MlflowClient().get_model_version_by_alias("tiny-model", "small")
    assert version.tags["optuna.trial"] == "0"
    # Nothing within: one line, exit 1, nothing registered.
    study_file.write_text(text.replace("params: 50000", "params: 100"))
    nothing = cli("finish", str(study_file))
    assert nothing.exit_code == 1
    assert "holds no complete trial within registry.choose" in nothing.output
