"""The whole path of a study on real data, a real SQLite Optuna storage and a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from fashion_models.errors import FatalError as FatalStudyError
from fashion_models.run.runner import run_study
from fashion_models.serving.pyfunc import load as load_serving_model
from fashion_models.spec.config import load_config
from tests.study_files import TINY_CNN, write_study

pytestmark = pytest.mark.slow


def _run(path: Path) -> tuple[optuna.Study, object]:
    session, promotion = run_study(load_config(path, env={}), echo=lambda _: None)
    return session.study, promotion


def _runs(client: MlflowClient, experiment: str) -> list[mlflow.entities.Run]:
    """The trial runs of the experiment (not the study run or a final retrain)."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if "optuna.kind" not in r.data.tags]


def test_study_trains_tracks_and_registers(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=3)
    study, promotion = _run(path)

    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    client = MlflowClient()
    runs = {r.info.run_id: r for r in _runs(client, "tiny")}
    # One run per trial, and every run belongs to a trial.
    assert sorted(runs) == sorted(t.user_attrs["mlflow_run_id"] for t in trials)
    for trial in trials:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.trial"] == str(trial.number)
        assert run.data.tags["optuna.study"] == "tiny"
        assert run.data.tags["optuna.state"] == "COMPLETE"
        assert run.data.params["filters_0"] == str(trial.params["filters_0"])
        assert run.data.params["epochs"] == "1"
        assert 0.0 < run.data.metrics["test_accuracy"] <= 1.0
        assert run.data.metrics["final_val_accuracy"] == pytest.approx(trial.value)
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [0]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "confusion_matrix.png" in artifacts

    best = study.best_trial
    assert promotion is not None and promotion.promoted
    assert promotion.trial == best.number
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert str(version.version) == promotion.version
    assert version.tags["optuna.trial"] == str(best.number)
    assert float(version.tags["test_accuracy"]) == pytest.approx(best.user_attrs["test_accuracy"])

    # The registered model is the servable pyfunc around the trained Keras model, with its
    # signature (images in, classes out; tests/serving covers what it answers).
    model = load_serving_model("models:/tiny-model@champion").keras_model
    images = np.zeros((4, 28, 28, 1), dtype=np.float32)
    assert model.predict(images, verbose=0).shape == (4, 10)
    info = mlflow.models.get_model_info("models:/tiny-model@champion")
    assert info.signature is not None
    assert info.saved_input_example_info is not None


def test_second_run_continues_the_same_study(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=2)
    first, _ = _run(path)
    again, promotion = _run(path)
    assert len(again.get_trials()) == 2  # already at n_trials: nothing new runs
    assert again._study_id == first._study_id
    assert promotion is not None and not promotion.promoted  # the same version, registered once
    assert len(MlflowClient().search_model_versions("name = 'tiny-model'")) == 1

    more = write_study(tmp_path, n_trials=3)
    study, _ = _run(more)
    assert [t.number for t in study.get_trials()] == [0, 1, 2]
    assert len(_runs(MlflowClient(), "tiny")) == 3


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
    study, promotion = _run(path)

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
    study, promotion = _run(path)
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


def test_too_many_failures_in_a_row_stop_the_study(tmp_path: Path) -> None:
    space = TINY_CNN.replace(
        "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: fixed, value: 6}"
    )
    path = write_study(tmp_path, n_trials=10, space=space)
    with pytest.raises(FatalStudyError, match="5 failed trials in a row"):
        _run(path)


@pytest.mark.parametrize(
    ("promote", "lr", "moves"),
    [("if_better", 1e-6, False), ("always", 1e-6, True), ("never", 5e-3, False)],
)
def test_promotion_rules(tmp_path: Path, promote: str, lr: float, moves: bool) -> None:
    _, first = _run(write_study(tmp_path, name="good", n_trials=1))
    assert first is not None and first.promoted
    # A second study into the same registered model, with a learning rate that cannot learn.
    space = TINY_CNN.replace(
        "learning_rate: {type: float, low: 1.0e-3, high: 5.0e-3, log: true}",
        f"learning_rate: {{type: fixed, value: {lr}}}",
    )
    registry = f"{{model_name: tiny-model, promote: {promote}}}"
    other = write_study(tmp_path, name="other", n_trials=1, space=space, registry=registry)
    _, second = _run(other)
    assert second is not None and second.version != first.version
    holder = MlflowClient().get_model_version_by_alias("tiny-model", "champion")
    assert str(holder.version) == (second.version if moves else first.version)
    assert second.promoted is moves


def test_an_unreachable_tracking_server_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from fashion_models.cli import main
    from tests.workers_helpers import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(main, ["run", str(write_study(tmp_path))])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "MLflow" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
