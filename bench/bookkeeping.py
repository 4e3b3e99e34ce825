"""Time the Optuna and MLflow bookkeeping of one trial, without training.

Per trial, what a worker does besides fitting: claim (lock + count + ask), suggest, user
attrs, one MLflow run with params, 3 per-epoch metric steps, final metrics and tags, tell.
Model and figure artifacts are left out (they are file copies, the same for every store).

    .venv/bin/python bench/bookkeeping.py sqlite 30
    .venv/bin/python bench/bookkeeping.py postgresql+psycopg://postgres@127.0.0.1:5432/DB 30
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import optuna

from fashion_models.search.claims import claim_lock
from fashion_models.search.storages import build_storage
from fashion_models.track.trial_run import TrialRun

optuna.logging.set_verbosity(optuna.logging.WARNING)


def main(storage_arg: str, n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp}/optuna.db" if storage_arg == "sqlite" else storage_arg
    tracking = f"sqlite:///{tmp}/mlflow.db"
    mlflow.set_tracking_uri(tracking)
    experiment = mlflow.create_experiment("bench", artifact_location=(tmp / "a").as_uri())
    storage = build_storage(url)
    study = optuna.create_study(storage=storage, study_name=f"bench-{tmp.name}")
    lock = claim_lock(url, study.study_name, getattr(storage, "engine", None))
    optuna_s, mlflow_s = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        lock.acquire()
        study.get_trials(deepcopy=False)
        trial = study.ask()
        lock.release()
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        trial.suggest_categorical("filters_0", [8, 16])
        trial.set_user_attr("seed", trial.number)
        for step in range(3):
            trial.report(0.5, step)
        t1 = time.perf_counter()
        params = {"learning_rate": lr, "filters_0": 8}
        with TrialRun(experiment, "bench", trial.number, {"seed": "0"}, params=params) as run:
            for step in range(3):
                mlflow.log_metrics({"loss": 1.0, "val_accuracy": 0.5}, step=step)
            run.log_final({"test_accuracy": 0.5, "test_loss": 1.0})
            run.mark("COMPLETE")
        t2 = time.perf_counter()
        trial.set_user_attr("mlflow_run_id", run.run_id)
        study.tell(trial, 0.5)
        t3 = time.perf_counter()
        optuna_s.append((t1 - t0) + (t3 - t2))
        mlflow_s.append(t2 - t1)
    kind = url.split(":", 1)[0]
    print(
        f"{kind}: {n} trials; Optuna median {statistics.median(optuna_s) * 1000:.1f} ms/trial, "
        f"MLflow (SQLite tracking store) median {statistics.median(mlflow_s) * 1000:.1f} ms/trial"
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
