"""The shop's service against `mlflow models serve` of the same model, side by side in one run.

    python bench/serving.py [--model URI] [--tracking-uri URI] [--items 10000] [--workers 1]
                            [--requests 400] [--soak 10000] [--out bench/out/serving.json]

Both servers run on this machine with the same number of workers; single-photo requests come
from 1, 4 and 16 concurrent clients (threads of this process, over loopback, one keep-alive
connection each) to our /v1/classify, /v1/similar and /invocations and to MLflow's
/invocations; p50 and p99 latency and photos per second are recorded. Then a soak: `--soak`
requests to our service, a tenth of them junk (not an image, truncated, empty, a wrong content
type, a bomb), counted by status, with the resident memory of its processes before and after.
The stock is `optuna-run catalog demo`'s, `--items` shop-like photos of real test images.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLIENTS = (1, 4, 16)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    command: list[str], ready: str, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{command[:3]} exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(ready, timeout=5) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(1)
    sys.exit(f"{ready} not ready: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, 15)
    process.wait(timeout=60)


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), MiB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


Request = Callable[[requests.Session], requests.Response]


def measure(make: Request, clients: int, total: int) -> dict[str, Any]:
    """`total` requests from `clients` threads; latencies (ms), photos/s, statuses."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    per_client = max(1, total // clients)

    def client() -> None:
        with requests.Session() as session:
            for _ in range(3):  # warm the connection and the server's paths
                make(session)
            barrier.wait()
            for _ in range(per_client):
                t0 = time.perf_counter()
                status = make(session).status_code
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[status] += 1

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
        "photos_per_s": round(len(latencies) / wall, 1),
        "statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models:/fashion-mnist-classifier@champion")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO}/mlruns/mlflow.db")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--soak", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "serving.json")
    args = parser.parse_args()

    from fashion_models.serving.demo_stock import shop_photo, write_demo_stock
    from fashion_models.train.data import load_fashion_mnist

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    stock = write_demo_stock(work / "stock", args.items)
    test = load_fashion_mnist().x_test
    # Queries: test images photographed with other offsets than the stock's.
    queries = [shop_photo(test[i], "JPEG", shift=i + 17) for i in range(0, 2000, 7)]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_TRACKING_URI": args.tracking_uri}  # fmt: skip
    ours_port, theirs_port = free_port(), free_port()
    ours_url, theirs_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{theirs_port}"
    t0 = time.perf_counter()
    ours = start(
        [str(BIN / "optuna-run"), "serve", "--catalog", str(stock), "--model", args.model,
         "--tracking-uri", args.tracking_uri, "--port", str(ours_port),
         "--workers", str(args.workers)],
        f"{ours_url}/readyz", work / "ours.log", env,
    )  # fmt: skip
    ready_seconds = time.perf_counter() - t0
    theirs = start(
        [str(BIN / "mlflow"), "models", "serve", "-m", args.model, "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(theirs_port), "-w", str(args.workers)],
        f"{theirs_url}/ping", work / "theirs.log", env,
    )  # fmt: skip
    pick = iter(random.Random(0).choices(queries, k=10**6))

    def form() -> list[tuple[str, tuple[str, bytes, str]]]:
        return [("image", ("q.jpg", next(pick), "image/jpeg"))]

    def scoring() -> dict[str, Any]:
        return {"dataframe_records": [{"image": base64.b64encode(next(pick)).decode()}]}

    targets: dict[str, Request] = {
        "ours /v1/classify": lambda s: s.post(f"{ours_url}/v1/classify", files=form()),
        "ours /v1/similar": lambda s: s.post(f"{ours_url}/v1/similar?k=5", files=form()),
        "ours /invocations": lambda s: s.post(f"{ours_url}/invocations", json=scoring()),
        "mlflow /invocations": lambda s: s.post(f"{theirs_url}/invocations", json=scoring()),
    }
    results: dict[str, Any] = {
        "items": args.items,
        "workers": args.workers,
        "model": args.model,
        "ready_seconds": round(ready_seconds, 1),
        "version": requests.get(f"{ours_url}/version").json(),
        "latency": [],
    }
    try:
        for clients in CLIENTS:
            for name, make in targets.items():
                row = {"target": name, **measure(make, clients, args.requests)}
                results["latency"].append(row)
                print(json.dumps(row), flush=True)
        stop(theirs)
        results["soak"] = soak(ours, ours_url, queries, args.soak)
        print(json.dumps(results["soak"]), flush=True)
    finally:
        for process in (ours, theirs):
            if process.poll() is None:
                stop(process)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


def soak(
    server: subprocess.Popen[bytes], url: str, queries: list[bytes], total: int
) -> dict[str, Any]:
    """`total` requests from 4 clients over the three photo endpoints, a tenth of them junk;
    statuses, and the resident memory of the service's processes before, during and after."""
    from PIL import Image

    big = Image.new("L", (9000, 5000))  # 45 megapixels: over the pixel limit
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    good = queries[0]
    junk: list[tuple[str, dict[str, Any]]] = [
        ("/v1/classify", {"files": [("image", ("a.jpg", b"not an image", "image/jpeg"))]}),
        ("/v1/similar", {"files": [("image", ("a.jpg", good[: len(good) // 2], "image/jpeg"))]}),
        ("/v1/classify", {"files": [("image", ("a.jpg", b"", "image/jpeg"))]}),
        ("/v1/similar", {"data": b"hello", "headers": {"Content-Type": "text/plain"}}),
        ("/v1/classify", {"files": [("image", ("a.png", buffer.getvalue(), "image/png"))]}),
        ("/invocations", {"data": b"{broken", "headers": {"Content-Type": "application/json"}}),
        ("/v1/classify", {"json": {"images": ["%%%"]}}),
    ]
    rng = random.Random(1)
    plan: list[tuple[str, dict[str, Any]]] = []
    for i in range(total):
        if rng.random() < 0.1:
            plan.append(rng.choice(junk))
            continue
        photo = queries[i % len(queries)]
        endpoint = ("/v1/classify", "/v1/similar", "/invocations")[i % 3]
        if endpoint == "/invocations":
            body = {"dataframe_records": [{"image": base64.b64encode(photo).decode()}]}
            plan.append((endpoint, {"json": body}))
        else:
            plan.append((endpoint, {"files": [("image", ("q.jpg", photo, "image/jpeg"))]}))
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    memory = [rss_mib(server.pid)]
    work = iter(plan)

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    item = next(work, None)
                if item is None:
                    return
                endpoint, kwargs = item
                status = session.post(f"{url}{endpoint}", **kwargs).status_code
                with lock:
                    statuses[status] += 1
                    if sum(statuses.values()) % 1000 == 0:
                        memory.append(rss_mib(server.pid))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    memory.append(rss_mib(server.pid))
    return {
        "requests": total,
        "seconds": round(time.perf_counter() - t0, 1),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "rss_mib": [round(m, 1) for m in memory],
    }


if __name__ == "__main__":
    main()
