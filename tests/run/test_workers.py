"""Several workers on one study: real processes, real stores, tiny trials on real data."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.study_files import TINY_CNN, write_study
from tests.workers_helpers import (  # noqa: F401 (_no_process_left: fixture)
    _no_process_left,
    assert_exact_study,
    failed,
    finish,
    free_port,
    load,
    pg_url,  # noqa: F401 (fixture)
    sqlite_url,
    start,
    trial_runs,
    wait_for_running_trial,
)

pytestmark = pytest.mark.slow

# Three epochs: long enough for a signal to land in the middle of a trial.
SLOW_CNN = TINY_CNN.replace("epochs: {type: fixed, value: 1}", "epochs: {type: fixed, value: 3}")
FAST_HEARTBEAT = "workers: {heartbeat_interval: 1, grace_period: 3}"


def _client(tmp_path: Path) -> MlflowClient:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/store/mlflow.db")
    return MlflowClient()


def test_workers_and_a_second_shell_share_one_sqlite_study(tmp_path: Path) -> None:
    # `--workers 2 --gpus 0,1` plus a plain shell: three workers on one SQLite study. The GPU
    # numbers index into the user's CUDA_VISIBLE_DEVICES; on this CPU machine TF finds no GPU.
    path = write_study(tmp_path, n_trials=5)
    env = {"CUDA_VISIBLE_DEVICES": "7,5"}
    parent = start(path, "--workers", "2", "--gpus", "0,1", env=env)
    time.sleep(2)  # let the parent create the study: the shell then joins it
    shell = start(path, env=env)
    (code, out), (shell_code, shell_out) = finish(parent), finish(shell)
    assert code == 0, out
    assert shell_code == 0, shell_out
    assert "database is locked" not in out + shell_out

    study = load(sqlite_url(tmp_path))
    client = _client(tmp_path)
    assert_exact_study(study, 5, client)
    assert not failed(study)
    runs = [r for rs in trial_runs(client, "tiny").values() for r in rs]
    pinned = {
        r.data.tags["cuda_visible_devices"] for r in runs if r.data.tags["worker_slot"] != "shell"
    }
    assert pinned <= {"7", "5"} and pinned
    assert {r.data.tags["cuda_visible_devices"] for r in runs} <= {"7", "5", "7,5"}
    assert {r.data.tags["lineage.device"] for r in runs} == {"CPU"}
    # The thread rule: 2 workers started together on this host share its cores.
    threads = max(1, len(__import__("os").sched_getaffinity(0)) // 2)
    for run in runs:
        if run.data.tags["worker_slot"] != "shell":
            assert run.data.tags["tf_threads"] == f"intra={threads} inter=1"
    # Each worker's sampler has its own seed: no two trials drew the same learning rate.
    rates = [t.params["learning_rate"] for t in study.get_trials()]
    assert len(set(rates)) == len(rates)
    assert "registry: tiny-model version" in out


def test_three_workers_on_postgresql(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    path = write_study(tmp_path, n_trials=4)
    code, out = finish(start(path, "--workers", "3", env={"OPTUNA_STORAGE": pg_url}))
    assert code == 0, out
    assert_exact_study(load(pg_url), 4, _client(tmp_path))


def test_workers_against_a_real_mlflow_server(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    # The README's recipe for several machines: a tracking server with a PostgreSQL backend
    # store and an artifact store that the workers reach only through the server.
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", pg_url,
         "--artifacts-destination", f"{tmp_path}/server/artifacts"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(uri, server)
        path = write_study(tmp_path, n_trials=3)
        code, out = finish(start(path, "--workers", "2", env={"MLFLOW_TRACKING_URI": uri}))
        assert code == 0, out
        mlflow.set_tracking_uri(uri)
        study = load(sqlite_url(tmp_path))
        assert_exact_study(study, 3, MlflowClient())
        # Artifacts went through the server to its artifact store, not to a local path.
        assert list((tmp_path / "server" / "artifacts").rglob("confusion_matrix.png"))
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(uri: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server exited"
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("mlflow server did not come up")


def test_a_killed_workers_trial_is_failed_closed_and_retried(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=2, space=SLOW_CNN, extra=FAST_HEARTBEAT)
    storage = sqlite_url(tmp_path)
    worker = start(path)
    number = wait_for_running_trial(storage, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    # The next start finds the trial without heartbeat, fails it, retries it, and finishes.
    code, out = finish(start(path))
    assert code == 0, out
    study = load(storage)
    client = _client(tmp_path)
    assert_exact_study(study, 2, client)
    [dead] = failed(study)
    assert dead.number == number
    [run] = trial_runs(client, "tiny")[str(number)]
    assert run.info.status == "FAILED"
    assert run.data.tags["optuna.state"] == "FAIL"
    assert "no heartbeat" in run.data.tags["fail_reason"]
    retried = [t for t in study.get_trials() if t.system_attrs.get("failed_trial") == number]
    assert len(retried) == 1 and retried[0].params == dead.params


@pytest.mark.parametrize(
    ("sig", "code", "args"), [(signal.SIGINT, 130, ()), (signal.SIGTERM, 143, ("--workers", "1"))]
)
def test_a_signal_stops_the_worker_cleanly(
    tmp_path: Path, sig: signal.Signals, code: int, args: tuple[str, ...]
) -> None:
    path = write_study(tmp_path, n_trials=1, space=SLOW_CNN)
    storage = sqlite_url(tmp_path)
    worker = start(path, *args)
    number = wait_for_running_trial(storage, worker)
    worker.send_signal(sig)
    exit_code, out = finish(worker)
    assert exit_code == code, out
    # The last line is the one-line message (TensorFlow may print its own noise before it).
    assert out.strip().splitlines()[-1].startswith("interrupted (interrupted by")

    study = load(storage)
    [stopped] = failed(study)
    assert stopped.number == number
    assert stopped.user_attrs["fail_reason"] == f"interrupted by {sig.name}"
    [run] = trial_runs(_client(tmp_path), "tiny")[str(number)]
    assert run.info.status == "FAILED"
    assert run.data.tags["fail_reason"] == f"interrupted by {sig.name}"
    if sig == signal.SIGTERM:  # starting again continues the study
        again, out = finish(start(path))
        assert again == 0, out
        assert_exact_study(load(storage), 1, _client(tmp_path))


def test_the_consecutive_failure_limit_is_configurable(tmp_path: Path) -> None:
    space = TINY_CNN.replace(
        "conv_layers: {type: fixed, value: 2}", "conv_layers: {type: fixed, value: 6}"
    )
    extra = "workers: {max_consecutive_failures: 2}"
    path = write_study(tmp_path, n_trials=10, space=space, extra=extra)
    code, out = finish(start(path))
    assert code == 1
    assert "error: stopped after 2 failed trials in a row" in out
    assert len(failed(load(sqlite_url(tmp_path)))) == 2
