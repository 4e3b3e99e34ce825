"""Tests for fashion_models.run.objective: one trial that fails or is pruned ends alone, with
its reason and its run kept (real data, real stores)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.helpers import TINY_CNN, cli, run_study_file, trial_run_list, write_study

pytestmark = pytest.mark.slow


def test_failing_trial_fails_alone_with_its_reason(tmp_path: Path) -> None:
    # Six valid-padded, pooled conv layers shrink the image below 1x1; one layer does not.
    space = (
        TINY_CNN.replace(
            "conv_layers: {type: fixed, value: 2}",
            "conv_layers: {type: categorical, choices: [6, 1]}",
        )
        .replace(
            "{type: categorical, choices: [8, 16], per_layer: conv_layers}",
            "{type: fixed, value: 8}",
        )
        .replace(
            "{type: float, low: 1.0e-3, high: 5.0e-3, log: true}", "{type: fixed, value: 0.002}"
        )
    )
    # The grid holds two points; it stops the study once both ran, one failed, one complete.
    path = write_study(tmp_path, n_trials=2, space=space, sampler="{type: grid}")
    study, promotion = run_study_file(path)

    failed = study.get_trials(states=(TrialState.FAIL,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(failed) == 1 and len(complete) == 1
    reason = failed[0].user_attrs["fail_reason"]
    assert "ArchitectureError" in reason
    run = MlflowClient().get_run(failed[0].user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["optuna.state"] == "FAIL"
    assert run.data.tags["fail_reason"] == reason
    assert promotion is not None and promotion.trial == complete[0].number


def test_pruned_trials_are_marked_and_keep_their_run(tmp_path: Path) -> None:
    space = TINY_CNN.replace("epochs: {type: fixed, value: 1}", "epochs: {type: fixed, value: 2}")
    # A threshold no real model reaches: every trial is pruned after its first epoch.
    path = write_study(tmp_path, n_trials=2, space=space, pruner="{type: threshold, lower: 0.999}")
    study, promotion = run_study_file(path)
    assert [t.state for t in study.get_trials()] == [TrialState.PRUNED] * 2
    assert promotion is None  # nothing complete, nothing registered
    for trial in study.get_trials():
        assert trial.user_attrs["pruned_at_epoch"] == 0
        run = MlflowClient().get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "KILLED"
        assert run.data.tags["optuna.state"] == "PRUNED"
        assert run.data.metrics["val_accuracy"] < 0.999  # the epoch that was pruned is logged
        assert run.data.metrics["pruned_at_step"] == 0
        artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
        assert {"training_curves.png", "model_summary.txt"} <= artifacts


def test_an_auto_precision_is_recorded_as_the_precision_trained_in(tmp_path: Path) -> None:
    from fashion_models.train.precision import resolve

    space = TINY_CNN + "  precision: {type: fixed, value: auto}\n"
    study, promotion = run_study_file(write_study(tmp_path, n_trials=1, space=space))
    trained_in = resolve("auto")
    assert trained_in in ("float32", "bfloat16")
    client = MlflowClient()
    run = client.get_run(study.trials[0].user_attrs["mlflow_run_id"])
    assert run.data.params["precision"] == trained_in
    assert promotion is not None
    version = client.get_model_version(promotion.model_name, promotion.version)
    assert version.tags["precision"] == trained_in


def test_a_grid_trains_each_model_once(tmp_path: Path) -> None:
    """The grid holds filters_1 for every point, but a 1-layer model never asks for it: of
    the 2 x 2 x 2 points, the 1-layer ones come in pairs that are the same model."""
    space = TINY_CNN.replace(
        "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: categorical, choices: [1, 2]}"
    ).replace("{type: float, low: 1.0e-3, high: 5.0e-3, log: true}", "{type: fixed, value: 0.002}")
    path = write_study(tmp_path, n_trials=8, space=space, sampler="{type: grid}")
    result = cli("run", str(path))
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/store/optuna.db")
    trials = study.get_trials()
    assert len(trials) == 8
    skipped = [t for t in trials if "duplicate_of" in t.user_attrs]
    trained = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(skipped) == 2 and {t.state for t in trained} == {TrialState.COMPLETE}
    assert len({tuple(sorted(t.params.items())) for t in trained}) == 6  # all different
    for trial in skipped:
        original = trials[trial.user_attrs["duplicate_of"]]
        assert trial.state == TrialState.PRUNED and "mlflow_run_id" not in trial.user_attrs
        assert original.number < trial.number and original.params == trial.params
        assert original.params["conv_layers"] == 1
        line = f"trial {trial.number} PRUNED skipped: the configuration of trial {original.number}"
        assert line in result.output
    assert len(trial_run_list(MlflowClient(), "tiny")) == 6
    status = cli("status", str(path))
    assert f"as #{skipped[0].user_attrs['duplicate_of']}" in status.output


def test_trial_runs_log_system_metrics_unless_mlflow_is_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow samples every 10 s; a 1 s interval lets a tiny trial hold samples.
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    space = TINY_CNN.replace("epochs: {type: fixed, value: 1}", "epochs: {type: fixed, value: 3}")
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    on, _ = run_study_file(write_study(tmp_path / "on", n_trials=1, space=space))
    metrics = MlflowClient().get_run(on.trials[0].user_attrs["mlflow_run_id"]).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(
        metrics
    )
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    off, _ = run_study_file(write_study(tmp_path / "off", n_trials=1, space=space))
    metrics = MlflowClient().get_run(off.trials[0].user_attrs["mlflow_run_id"]).data.metrics
    assert not [name for name in metrics if name.startswith("system/")]


def test_a_study_over_two_families_trains_and_logs_each_trials_own(tmp_path: Path) -> None:
    space = """
model: [mlp, cnn]
params:
  conv_layers: {type: fixed, value: 1}
  filters: {type: fixed, value: 8}
  pooling: {type: fixed, value: max}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 16}
  epochs: {type: fixed, value: 1}
"""
    path = write_study(tmp_path, space=space, sampler="{type: grid}", extra="final: {epochs: 1}")
    study, promotion = run_study_file(path)
    by_family = {t.params["model"]: t for t in study.trials}
    assert set(by_family) == {"mlp", "cnn"}
    # 784x16 + 16x10 weights and biases for the MLP; one 8-filter conv and pooling first for
    # the CNN (13x13x8 = 1,352 features into the same head).
    assert by_family["mlp"].user_attrs["params"] == 784 * 16 + 16 + 16 * 10 + 10
    assert by_family["cnn"].user_attrs["params"] == 80 + 1352 * 16 + 16 + 170
    for family, trial in by_family.items():
        run = MlflowClient().get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.params["model"] == family
    assert promotion is not None
    final = MlflowClient().get_run(
        MlflowClient().get_model_version(promotion.model_name, promotion.version).run_id
    )
    best = study.trials[promotion.trial]
    assert final.data.params["model"] == best.params["model"]
    assert final.data.metrics["params"] == best.user_attrs["params"]
