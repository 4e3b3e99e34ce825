"""The storage proxy under a crowd: N light worker processes through one `optuna-run
storage-proxy` on a fresh PostgreSQL database, plaintext or with TLS and a bearer token.

    .venv/bin/python bench/proxy_crowd.py --workers 64 128 256 [--trials-per-worker 2]

Each worker is a process running the package's real trial loop (the study's claim lock taken
through the proxy, heartbeats every 10 s, Optuna's bookkeeping) on an objective that sleeps
0.2 s instead of training. The workers are forked from one parent that has imported
everything (and opened no connection), so that 256 of them fit in memory: each still opens
its own gRPC connection and runs its own loop. Per run it prints trials per second (from the
first fork to the last worker's exit), the p50 and p99 time a worker waited to take the claim
lock, the most PostgreSQL connections at once, the proxy's CPU seconds and peak memory, and
whether the study came out exact: n_trials COMPLETE, nothing else, and as many objective
calls as trials (none lost, none run twice).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import optuna  # noqa: E402

from fashion_models.config.study_file import load_config  # noqa: E402
from fashion_models.search import proxy_client  # noqa: E402
from fashion_models.search.study import open_study  # noqa: E402
from fashion_models.search.trial_loop import run_trials  # noqa: E402
from tests.helpers import OPTUNA_RUN, free_port, pg_connections  # noqa: E402
from tests.tls import make_pki  # noqa: E402

STUDY = """
study: {{name: crowd, n_trials: {n_trials}, seed: 0}}
storage: {storage}
sampler: {{type: random}}
search_space: space.yaml
"""
SPACE = "model: mlp\nparams:\n  epochs: {type: fixed, value: 1}\n"
TOKEN = "bench-token-not-a-secret"
CLOCK = os.sysconf("SC_CLK_TCK")


def worker(study: Path, out: Path) -> None:
    """One worker's life, in a forked child: the trial loop, then its numbers in `out`."""
    waits: list[float] = []
    acquire = proxy_client.ProxyClaimLock.acquire

    def timed(self: proxy_client.ProxyClaimLock) -> None:
        started = time.monotonic()
        acquire(self)
        waits.append(time.monotonic() - started)

    proxy_client.ProxyClaimLock.acquire = timed  # type: ignore[method-assign]
    calls = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal calls
        calls += 1
        trial.suggest_float("x", 0, 1)
        time.sleep(0.2)
        return float(trial.number)

    config = load_config(study)
    run_trials(config, open_study(config), objective, (), echo=lambda _: None)
    out.write_text(json.dumps({"waits": waits, "calls": calls}))


def proxy_usage(pid: int) -> tuple[float, float]:
    """CPU seconds and peak resident MiB of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK  # utime, stime
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return cpu, peak / 1024


def measure(server: str, workers: int, per_worker: int, tls: bool, tmp: Path) -> dict[str, object]:
    name = f"fm_crowd_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{server}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{server}/{name}"
    port = free_port()
    args = []
    # The workers (forked from here) and the proxy read the token and the CA from here.
    for var in ("OPTUNA_PROXY_TOKEN", "OPTUNA_PROXY_CA_FILE"):
        os.environ.pop(var, None)
    if tls:
        pki = make_pki(tmp / "pki")
        args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
        os.environ.update(OPTUNA_PROXY_TOKEN=TOKEN, OPTUNA_PROXY_CA_FILE=str(pki.ca))
    proxy = subprocess.Popen(
        [OPTUNA_RUN, "storage-proxy", "--port", str(port), *args],
        env={**os.environ, "OPTUNA_PROXY_STORAGE": url},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proxy.stdout is not None
    first = proxy.stdout.readline()
    assert first.startswith("storage proxy for"), first
    scheme = "grpcs" if tls else "grpc"
    n_trials = workers * per_worker
    (tmp / "space.yaml").write_text(SPACE)
    study = tmp / "study.yaml"
    address = f"{scheme}://127.0.0.1:{port}"
    study.write_text(textwrap.dedent(STUDY.format(n_trials=n_trials, storage=address)))
    cpu_before, _ = proxy_usage(proxy.pid)
    try:
        with pg_connections(url, every=0.25) as samples:
            started = time.monotonic()
            children = []
            for index in range(workers):
                pid = os.fork()
                if pid == 0:  # the worker
                    code = 0
                    try:
                        worker(study, tmp / f"worker-{index}.json")
                    except BaseException as exc:  # noqa: BLE001 - reported, then the exit code
                        print(f"worker {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                        code = 1
                    os._exit(code)
                children.append(pid)
            failed = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in children)
            wall = time.monotonic() - started
        cpu_after, peak_mib = proxy_usage(proxy.pid)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(timeout=60)
    results = [json.loads(p.read_text()) for p in tmp.glob("worker-*.json")]
    waits = sorted(w for r in results for w in r["waits"])
    calls = sum(r["calls"] for r in results)
    trials = optuna.load_study(study_name="crowd", storage=url).get_trials(deepcopy=False)
    states = {s.name: sum(t.state == s for t in trials) for s in {t.state for t in trials}}
    exact = states == {"COMPLETE": n_trials} and calls == n_trials and failed == 0
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "workers": workers,
        "proxy": "TLS + token" if tls else "plaintext",
        "n_trials": n_trials,
        "wall_s": round(wall, 1),
        "trials_per_s": round(n_trials / wall, 1),
        "claim_p50_ms": round(1000 * statistics.median(waits), 1) if waits else None,
        "claim_p99_ms": round(1000 * waits[int(0.99 * (len(waits) - 1))], 1) if waits else None,
        "pg_connections_peak": max((sum(s.values()) for s in samples), default=0),
        "proxy_cpu_s": round(cpu_after - cpu_before, 1),
        "proxy_peak_mib": round(peak_mib),
        "states": states,
        "objective_calls": calls,
        "failed_workers": failed,
        "exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--trials-per-worker", type=int, default=2)
    parser.add_argument("--server", default="postgres@127.0.0.1:5432")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for workers in args.workers:
        for tls in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                row = measure(args.server, workers, args.trials_per_worker, tls, Path(tmp))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
