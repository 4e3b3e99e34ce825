"""Tests for fashion_models.track.registry: registering a study's model and the one gated rule
that moves the alias, at the end of a study (registry.promote) and by `optuna-run promote`."""

from __future__ import annotations

import threading
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from fashion_models.config.study_file import load_config
from fashion_models.search.study import load_existing_study
from fashion_models.serving.pyfunc import log_serving_model
from fashion_models.track.registry import (
    Candidate,
    promote,
    register,
    trial_candidate,
    version_tags,
)
from tests.helpers import TINY_CNN, cli, mlflow_client, run_study_file, write_study

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("rule", "lr", "moves"),
    [("if_better", 1e-6, False), ("always", 1e-6, True), ("never", 5e-3, False)],
)
def test_promotion_rules(tmp_path: Path, rule: str, lr: float, moves: bool) -> None:
    _, first = run_study_file(write_study(tmp_path, name="good", n_trials=1))
    assert first is not None and first.promoted
    # A second study into the same registered model, with a learning rate that cannot learn.
    space = TINY_CNN.replace(
        "learning_rate: {type: float, low: 1.0e-3, high: 5.0e-3, log: true}",
        f"learning_rate: {{type: fixed, value: {lr}}}",
    )
    registry = f"{{model_name: tiny-model, promote: {rule}}}"
    other = write_study(tmp_path, name="other", n_trials=1, space=space, registry=registry)
    _, second = run_study_file(other)
    assert second is not None and second.version != first.version
    holder = MlflowClient().get_model_version_by_alias("tiny-model", "champion")
    assert str(holder.version) == (second.version if moves else first.version)
    assert second.promoted is moves


def test_promote_gates_forces_and_stages(finished: Path) -> None:
    client = mlflow_client(finished.parent)
    study = load_existing_study(load_config(finished, env={}))
    ranked = sorted(study.get_trials(), key=lambda t: t.user_attrs["test_accuracy"])
    # Concurrent promotions of every trial into a fresh model: the best must end up holding.
    candidates = [trial_candidate("tiny", t) for t in ranked]
    for c in candidates:  # registered first: the race under test is the alias, not versioning
        register(c, "race-model", log_serving_model)
    threads = [
        threading.Thread(target=promote, args=(c, "race-model", "champion", log_serving_model))
        for c in candidates
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    holder = client.get_model_version_by_alias("race-model", "champion")
    assert float(holder.tags["test_accuracy"]) == pytest.approx(
        ranked[-1].user_attrs["test_accuracy"]
    )

    # `optuna-run promote` into a model of its own (a study file beside the finished one that
    # names gate-model), so that tiny-model@champion stays the final retrain other tests read.
    # The best trial takes the free alias first: the worst trial, no better than it, must be
    # refused, then forced.
    gate = finished.with_name("gate.yaml")
    gate.write_text(
        finished.read_text().replace("model_name: tiny-model", "model_name: gate-model")
    )
    best, worst = str(ranked[-1].number), str(ranked[0].number)
    first = cli("promote", str(gate), "--trial", best)
    assert first.exit_code == 0 and "now holds @champion" in first.output
    held = client.get_model_version_by_alias("gate-model", "champion")
    assert held.tags["optuna.trial"] == best
    gated = cli("promote", str(gate), "--trial", worst)
    assert gated.exit_code == 0
    assert "does not take @champion" in gated.output
    assert client.get_model_version_by_alias("gate-model", "champion").version == held.version
    forced = cli("promote", str(gate), "--trial", worst, "--force", "--stage", "Staging")
    assert forced.exit_code == 0 and "now holds @champion" in forced.output
    version = client.get_model_version_by_alias("gate-model", "champion")
    assert version.tags["optuna.trial"] == worst and version.current_stage == "Staging"
    assert cli("promote", str(gate), "--trial", "99").exit_code == 2


def test_version_tags_say_how_the_model_predicts(finished: Path) -> None:
    """tta and precision are copied from the run's params; a run that never named them (a
    study from before they existed) gets the vocabulary's defaults."""
    client = mlflow_client(finished.parent)  # a store made already: its own experiment
    experiment = client.create_experiment("version-tags")
    tagged = {}
    for name, params in (("new", {"tta": "flip", "precision": "bfloat16"}), ("old", {})):
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_params({"model": "cnn", **params})
        candidate = Candidate("tags", 0, run.info.run_id, "models:/m-unused", 0.5)
        tagged[name] = version_tags(client, candidate)
    assert (tagged["new"]["tta"], tagged["new"]["precision"]) == ("flip", "bfloat16")
    assert (tagged["old"]["tta"], tagged["old"]["precision"]) == ("none", "float32")
    # The study's own registered model (trials and final retrain never named them).
    champion = client.get_model_version_by_alias("tiny-model", "champion")
    assert (champion.tags["tta"], champion.tags["precision"]) == ("none", "float32")


def test_the_servable_model_belongs_to_its_runs_experiment(finished: Path) -> None:
    # Not to the Default experiment, which a worker of an authenticated tracking server may
    # only read (tests/deploy/test_secure_deployment.py registers through one).
    client = mlflow_client(finished.parent)
    champion = client.get_model_version_by_alias("tiny-model", "champion")
    servable = client.get_logged_model(champion.source.removeprefix("models:/"))
    run = client.get_run(champion.run_id)
    assert servable.experiment_id == run.info.experiment_id != "0"
    assert servable.source_run_id == champion.run_id
