"""What MLflow's system metrics cost a trial: the start and end of a run with and without
them, and one sample (psutil's CPU, memory, disk and network figures, logged to the store).

    .venv/bin/python bench/system_metrics_cost.py [--runs 30] [--samples 20]

Runs alternate with and without `log_system_metrics` on one SQLite tracking store (paired,
so background load hits both alike); each run logs params, 3 metric steps and ends, as a
trial's run does. A sample is timed as the monitor takes it every 10 s in a trial: collect,
then publish to the run. Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor


def one_run(experiment: str, system_metrics: bool) -> float:
    start = time.perf_counter()
    with mlflow.start_run(experiment_id=experiment, log_system_metrics=system_metrics):
        mlflow.log_params({"learning_rate": 0.001, "filters_0": 8})
        for step in range(3):
            mlflow.log_metrics({"loss": 1.0, "val_accuracy": 0.5}, step=step)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    experiment = mlflow.create_experiment("bench", artifact_location=(tmp / "a").as_uri())
    one_run(experiment, True)  # the first run creates the tables' caches; not counted
    with_s, without_s = [], []
    for _ in range(args.runs):
        with_s.append(one_run(experiment, True))
        without_s.append(one_run(experiment, False))
    with mlflow.start_run(experiment_id=experiment) as run:
        monitor = SystemMetricsMonitor(run.info.run_id, sampling_interval=3600)
        sample_s = []
        for _ in range(args.samples):
            start = time.perf_counter()
            monitor.collect_metrics()
            monitor.publish_metrics(monitor.aggregate_metrics())
            sample_s.append(time.perf_counter() - start)
    with_ms, without_ms = statistics.median(with_s) * 1e3, statistics.median(without_s) * 1e3
    sample_ms = statistics.median(sample_s) * 1e3
    print(
        f"run start+end, median of {args.runs}: {with_ms:.1f} ms with system metrics, "
        f"{without_ms:.1f} ms without ({with_ms - without_ms:+.1f} ms)"
    )
    print(
        f"one sample (collect + publish), median of {args.samples}: {sample_ms:.1f} ms, "
        f"every 10 s: {sample_ms / 100:.2f}% of one core"
    )


if __name__ == "__main__":
    main()
