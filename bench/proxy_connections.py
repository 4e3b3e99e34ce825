"""How many PostgreSQL connections N workers hold, on the database directly and through
`optuna-run storage-proxy`, counted in pg_stat_activity.

    .venv/bin/python bench/proxy_connections.py [--workers 4 16] [--server postgres@127.0.0.1:5432]

Each worker is a process running the real trial loop of the package (claim lock, heartbeats
every second, Optuna's bookkeeping) on an objective that sleeps one second instead of
training, so the figure is the storage's alone; 3 trials per worker. Each run gets a fresh
database, dropped afterwards. Prints, per run, the most connections at once in all and the
most held by one process (by application_name).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import OPTUNA_RUN, pg_connections  # noqa: E402

WORKER = """
import sys, time, random
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
from fashion_models.config.study_file import load_config
from fashion_models.search.study import open_study
from fashion_models.search.trial_loop import run_trials
config = load_config(sys.argv[1])
handle = open_study(config)
def objective(trial):
    trial.suggest_float("x", 0, 1)
    time.sleep(1.0)
    return random.random()
run_trials(config, handle, objective, (), echo=lambda _: None)
"""
STUDY = """
study: {{name: bench, n_trials: {n_trials}, seed: 0}}
storage: {storage}
sampler: {{type: random}}
search_space: space.yaml
workers: {{heartbeat_interval: 1, grace_period: 10}}
"""
SPACE = "model: mlp\nparams:\n  epochs: {type: fixed, value: 1}\n"


def measure(server: str, workers: int, proxy: bool) -> tuple[int, int]:
    name = f"fm_bench_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{server}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{server}/{name}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    served = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            storage = url
            if proxy:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
                command = [OPTUNA_RUN, "storage-proxy", "--storage", url, "--port", str(port)]
                served = subprocess.Popen(
                    command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
                )
                assert served.stdout is not None and served.stdout.readline()
                storage = f"grpc://127.0.0.1:{port}"
            (Path(tmp) / "space.yaml").write_text(SPACE)
            study = Path(tmp) / "study.yaml"
            study.write_text(textwrap.dedent(STUDY.format(n_trials=3 * workers, storage=storage)))
            with pg_connections(url) as samples:
                processes = [
                    subprocess.Popen([sys.executable, "-c", WORKER, str(study)], env=env)
                    for _ in range(workers)
                ]
                for process in processes:
                    assert process.wait(timeout=600) == 0
            total = max(sum(s.values()) for s in samples)
            per_process = max(n for s in samples for n in s.values())
            return total, per_process
    finally:
        if served is not None:
            served.send_signal(signal.SIGTERM)
            served.wait(timeout=30)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--server", default="postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print("| workers | storage | connections at once, all | most held by one process |")
    print("|---|---|---|---|")
    for workers in args.workers:
        for proxy in (False, True):
            started = time.monotonic()
            total, one = measure(args.server, workers, proxy)
            kind = "through the proxy" if proxy else "PostgreSQL directly"
            print(f"| {workers} | {kind} | {total} | {one} |  ({time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
