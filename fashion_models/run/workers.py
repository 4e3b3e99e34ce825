"""`--workers N` and `--gpus`: worker processes on one study, their devices and threads.

Each worker is a fresh `optuna-run run FILE --as-worker` process whose environment is set
before TensorFlow starts in it: CUDA_VISIBLE_DEVICES for its GPU, TensorFlow's thread pools
sized so that the workers of one host share its cores instead of fighting over them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig
from fashion_models.errors import UserError
from fashion_models.run.runner import finish_study
from fashion_models.run.session import StudySession, open_session
from fashion_models.search.signals import Interrupted
from fashion_models.track.registry import Promotion
from fashion_models.train.devices import WORKER_ENV, threads_per_worker


class GpuListError(UserError):
    """--gpus names something that is not a GPU this process may use."""


def parse_gpus(text: str, env: Mapping[str, str]) -> list[str]:
    """`--gpus 0,1` -> the CUDA_VISIBLE_DEVICES value of each worker. When the user has set
    CUDA_VISIBLE_DEVICES, the numbers index into it (as CUDA itself numbers them)."""
    items = [t.strip() for t in text.split(",")]
    if not all(t.isdigit() for t in items):
        raise GpuListError(f"expected GPU numbers separated by commas, found {text!r}")
    if len(set(items)) != len(items):
        raise GpuListError(f"each GPU may be listed once, found {text!r}")
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return items
    allowed = [v.strip() for v in visible.split(",") if v.strip()]
    for item in items:
        if int(item) >= len(allowed):
            raise GpuListError(
                f"GPU {item} is not among the {len(allowed)} GPUs of "
                f"CUDA_VISIBLE_DEVICES={visible!r} (numbered from 0)"
            )
    return [allowed[int(item)] for item in items]


def worker_env(
    index: int, count: int, gpus: Sequence[str], base: Mapping[str, str]
) -> dict[str, str]:
    """The environment of worker `index` of `count`: its GPU (round robin over `gpus`), its
    threads, memory growth on."""
    env = dict(base)
    threads = threads_per_worker(count)
    env.update(
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS="1",
        OMP_NUM_THREADS=str(threads),
        TF_FORCE_GPU_ALLOW_GROWTH="true",
        TF_CPP_MIN_LOG_LEVEL=base.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        PYTHONUNBUFFERED="1",  # progress lines as they come, not when a worker exits
    )
    env[WORKER_ENV] = f"{index}/{count}"
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    return env


def spawn(study_file: Path, count: int, gpus: Sequence[str], debug: bool) -> list[subprocess.Popen]:
    """Start `count` workers. Each gets its own session, so that a Ctrl-C in the terminal
    reaches the parent alone and the parent passes it on exactly once."""
    command = [sys.executable, "-m", "fashion_models.cli"]
    command += ["--debug"] if debug else []
    command += ["run", str(study_file), "--as-worker"]
    return [
        subprocess.Popen(
            command, env=worker_env(i, count, gpus, os.environ), start_new_session=True
        )
        for i in range(count)
    ]


def wait_for(workers: list[subprocess.Popen]) -> tuple[list[int], int | None]:
    """Wait for every worker; SIGINT or SIGTERM to the parent goes on to each worker still
    running. Returns the exit codes and the signal received, if any."""
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [worker.wait() for worker in workers]
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return codes, (received[0] if received else None)


def describe_exit(index: int, code: int) -> str:
    if code < 0:
        return f"worker {index} was killed by {signal.Signals(-code).name}"
    return f"worker {index} exited with code {code}"


def prefixed(echo: Callable[[str], None]) -> Callable[[str], None]:
    """Progress lines of a worker of --workers carry its number."""
    slot = os.environ.get(WORKER_ENV)
    if slot is None:
        return echo
    label = f"[w{slot.split('/')[0]}] "
    return lambda line: echo(label + line)


def run_parallel(
    config: StudyConfig,
    study_file: Path,
    count: int,
    gpus: Sequence[str],
    debug: bool,
    echo: Callable[[str], None] = print,
) -> tuple[StudySession, Promotion | None, list[str]]:
    """Create the study, the experiment and the study run once, run `count` workers to
    n_trials, then register the best model once. Returns the session, the promotion and what
    went wrong. This process runs no trials, so it splits no data."""
    session = open_session(config, runs_trials=False)
    pinned = f", GPUs {','.join(gpus)}" if gpus else ""
    echo(
        f"study {config.study.name!r} on {mask_url(config.storage)}: {count} workers, "
        f"{threads_per_worker(count)} threads each{pinned}"
    )
    codes, signum = wait_for(spawn(study_file, count, gpus, debug))
    if signum is not None:
        raise Interrupted(signum)
    problems = [describe_exit(i, code) for i, code in enumerate(codes) if code != 0]
    return session, finish_study(session, echo), problems
