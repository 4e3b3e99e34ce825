"""One finished tiny study (3 trials and a final retrain, driven through the CLI), read back
through the MLflow store, a real `mlflow server`, a real `optuna-dashboard`, and the commands
`status`, `report` and `promote`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from fashion_models.cli import main
from fashion_models.search.study import load_existing_study, open_study
from fashion_models.serving.pyfunc import log_serving_model
from fashion_models.spec.config import load_config
from fashion_models.track import experiment as tracking
from fashion_models.track.lineage import lineage_tags
from fashion_models.track.locks import lock_name, store_lock
from fashion_models.track.registry import promote, register, trial_candidate
from fashion_models.track.study_run import ensure_study_run
from fashion_models.train.data import CLASS_NAMES
from fashion_models.train.metrics import class_slug
from tests.servers import BIN, free_port, get_json, serving
from tests.study_files import TINY_CNN, write_study

pytestmark = pytest.mark.slow

SPACE = TINY_CNN.replace(
    "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: int, low: 1, high: 2}"
).replace("epochs: {type: fixed, value: 1}", "epochs: {type: categorical, choices: [1, 2]}")
NO_ENV = {"OPTUNA_STORAGE": None, "MLFLOW_TRACKING_URI": None}


def cli(*args: str) -> Any:
    return CliRunner(env=NO_ENV).invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("finished")
    path = write_study(
        tmp, n_trials=3, space=SPACE, extra="final: {epochs: 1, on: train+validation}"
    )
    result = cli(str(path))
    assert result.exit_code == 0, result.output
    return path


def _client(path: Path) -> MlflowClient:
    mlflow.set_tracking_uri(f"sqlite:///{path.parent}/store/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{path.parent}/store/mlflow.db")
    return MlflowClient()


def test_study_run_nests_trials_and_holds_figures(finished: Path) -> None:
    client = _client(finished)
    study = load_existing_study(load_config(finished, env={}))
    parent = study.user_attrs["mlflow_study_run_id"]
    exp = client.get_experiment_by_name("tiny")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    kinds = sorted(r.data.tags.get("optuna.kind", "trial") for r in runs)
    assert kinds == ["final", "study", "trial", "trial", "trial"]  # one study run, not one a worker
    for run in runs:
        if run.info.run_id != parent:
            assert run.data.tags["mlflow.parentRunId"] == parent
    figures = {a.path for a in client.list_artifacts(parent, "study")}
    for name in ("optimization_history", "param_importances", "intermediate_values"):
        assert f"study/{name}.png" in figures
    assert "study/slice_layers_epochs.png" in figures
    assert client.get_run(parent).data.tags["best_trial"] == str(study.best_trial.number)


def test_trial_runs_hold_reports_and_lineage(finished: Path) -> None:
    client = _client(finished)
    study = load_existing_study(load_config(finished, env={}))
    trial = study.best_trial
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    expected = {"classification_report.json", "classification_report.txt", "misclassified.png",
                "training_curves.png", "model_summary.txt", "confusion_matrix.png"}  # fmt: skip
    assert expected <= artifacts
    report = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/classification_report.json")
    assert set(CLASS_NAMES) <= set(report)
    assert report["Trouser"]["support"] == 50  # 500 stratified test images, 10 classes
    metrics = run.data.metrics
    for name in CLASS_NAMES:
        assert metrics[f"test_f1_{class_slug(name)}"] == pytest.approx(report[name]["f1-score"])
    assert metrics["param_count"] == trial.user_attrs["param_count"]
    for key in ("git_commit", "python", "tensorflow", "keras", "optuna", "mlflow", "host",
                "device", "data_sha256", "data_sha256.train_images"):  # fmt: skip
        assert run.data.tags[f"lineage.{key}"] == lineage_tags()[f"lineage.{key}"]
    assert run.data.tags["seed"] == str(3 + trial.number)


def test_final_retrain_is_the_registered_model(finished: Path) -> None:
    client = _client(finished)
    study = load_existing_study(load_config(finished, env={}))
    final = study.user_attrs["final_retrain"]
    run = client.get_run(final["run_id"])
    assert run.data.tags["optuna.kind"] == "final"
    assert run.data.metrics["train_images"] == 600  # train + validation
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert version.run_id == final["run_id"]
    assert float(version.tags["test_accuracy"]) == pytest.approx(run.data.metrics["test_accuracy"])
    assert version.tags["optuna.study"] == "tiny"
    assert version.tags["optuna.trial"] == str(study.best_trial.number)
    assert version.tags["data_sha256"] == lineage_tags()["lineage.data_sha256"]
    assert version.tags["git_commit"] == lineage_tags()["lineage.git_commit"]
    # Running the finished study again neither retrains nor registers again.
    assert cli(str(finished)).exit_code == 0
    assert study.user_attrs["final_retrain"] == final
    assert len(client.search_model_versions("name = 'tiny-model'")) == 1


def test_status_table_and_json(finished: Path) -> None:
    study = load_existing_study(load_config(finished, env={}))
    table = cli("status", str(finished))
    assert table.exit_code == 0, table.output
    for trial in study.get_trials():
        assert trial.user_attrs["mlflow_run_id"] in table.output
    assert f"best: trial {study.best_trial.number}," in table.output
    data = json.loads(cli("status", "--json", str(finished)).output)
    assert [t["number"] for t in data["trials"]] == [0, 1, 2]
    assert data["best"]["number"] == study.best_trial.number
    assert data["best"]["value"] == pytest.approx(study.best_value)
    assert data["counts"] == {"COMPLETE": 3}


def test_report_redraws_on_the_same_study_run(finished: Path) -> None:
    study = load_existing_study(load_config(finished, env={}))
    result = cli("report", str(finished))
    assert result.exit_code == 0, result.output
    assert study.user_attrs["mlflow_study_run_id"] in result.output
    assert "study/optimization_history.png" in result.output


def test_commands_on_a_missing_study_write_nothing(tmp_path: Path) -> None:
    path = write_study(tmp_path, name="absent")
    for command in ("status", "report", "promote"):
        result = cli(command, str(path))
        assert result.exit_code == 2
        assert "no study 'absent' yet" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "store").exists()


def test_mlflow_server_serves_the_runs(finished: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{finished.parent}/store/mlflow.db"
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri", store,
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    with serving(command, f"{url}/health", tmp_path / "mlflow.log"):
        exp = get_json(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny")
        body = {"experiment_ids": [exp["experiment"]["experiment_id"]], "max_results": 100}
        runs = get_json(f"{url}/api/2.0/mlflow/runs/search", body)["runs"]
        trials = [r for r in runs if r["info"]["run_name"].startswith("tiny-trial-")]
        assert len(runs) == 5 and len(trials) == 3
        for run in trials:
            metrics = {m["key"] for m in run["data"]["metrics"]}
            assert {"test_accuracy", "val_accuracy", "test_f1_bag"} <= metrics
            run_id = run["info"]["run_id"]
            listed = get_json(f"{url}/api/2.0/mlflow/artifacts/list?run_id={run_id}")
            paths = {f["path"] for f in listed["files"]}
            assert {"classification_report.json", "misclassified.png"} <= paths
        alias = "registered-models/alias?name=tiny-model&alias=champion"
        version = get_json(f"{url}/api/2.0/mlflow/{alias}")["model_version"]
        assert {t["key"] for t in version["tags"]} >= {"test_accuracy", "data_sha256"}


def test_optuna_dashboard_serves_the_study(finished: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    storage = f"sqlite:///{finished.parent}/store/optuna.db"
    command = [str(BIN / "optuna-dashboard"), storage, "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, f"{url}/api/meta", tmp_path / "dashboard.log"):
        studies = get_json(f"{url}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        detail = get_json(f"{url}/api/studies/{studies[0]['study_id']}")
        assert [t["state"] for t in detail["trials"]] == ["Complete"] * 3
        study = load_existing_study(load_config(finished, env={}))
        assert detail["best_trials"][0]["number"] == study.best_trial.number


def test_store_lock_excludes(finished: Path) -> None:
    _client(finished)
    inside, seen = [0], []

    def hold() -> None:
        with store_lock(lock_name("test", "excl"), timeout=60):
            inside[0] += 1
            seen.append(inside[0])
            time.sleep(0.05)
            inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1, 1, 1]


def test_promote_gates_forces_and_stages(finished: Path) -> None:
    client = _client(finished)
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

    worst = str(ranked[0].number)
    held = client.get_model_version_by_alias("tiny-model", "champion")
    better = ranked[0].user_attrs["test_accuracy"] > float(held.tags["test_accuracy"])
    gated = cli("promote", str(finished), "--trial", worst)
    assert gated.exit_code == 0
    assert ("now holds @champion" if better else "does not take @champion") in gated.output
    if better:  # rare (the final model saw more data): nothing left to force
        return
    assert client.get_model_version_by_alias("tiny-model", "champion").version == held.version
    forced = cli("promote", str(finished), "--trial", worst, "--force", "--stage", "Staging")
    assert forced.exit_code == 0 and "now holds @champion" in forced.output
    version = client.get_model_version_by_alias("tiny-model", "champion")
    assert version.tags["optuna.trial"] == worst and version.current_stage == "Staging"
    assert cli("promote", str(finished), "--trial", "99").exit_code == 2


@pytest.mark.parametrize(
    ("final", "message"),
    [
        ("final: {epochs: 0}", "final.epochs: expected an integer >= 1, found 0"),
        ("final: {on: test}", "final.on: expected one of ['train+validation', 'train']"),
        ("final: {epoch: 3}", "final.epoch: unknown key"),
    ],
)
def test_bad_final_section_is_a_user_error(tmp_path: Path, final: str, message: str) -> None:
    path = write_study(tmp_path, extra=final)
    result = cli("validate", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "store").exists()


def test_workers_racing_for_the_study_run_share_one(tmp_path: Path) -> None:
    config = load_config(write_study(tmp_path, name="racing"), env={})
    tracking.connect(config.tracking.uri)
    experiment_id = tracking.ensure_experiment("racing", config.tracking.uri)
    open_study(config)  # created once: racing to create Optuna's tables is not under test
    ids: list[str] = []

    def worker() -> None:
        study = open_study(config).study  # each worker joins the study on its own
        ids.append(ensure_study_run(study, experiment_id, config))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = MlflowClient().search_runs([experiment_id])
    assert len(ids) == 4 and len(set(ids)) == 1
    assert [r.info.run_id for r in runs] == ids[:1]
