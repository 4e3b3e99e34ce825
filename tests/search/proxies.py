"""A real `optuna-run storage-proxy` process for the proxy's tests: started with the database
URL in $OPTUNA_PROXY_STORAGE (never on its command line), read line by line."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.helpers import OPTUNA_RUN, cli_env, free_port


class Proxy:
    """A running `optuna-run storage-proxy` process and what it has printed so far."""

    def __init__(self, storage: str, port: int, *args: str, env: dict[str, str] | None = None):
        scheme = "grpcs" if "--tls-cert" in args else "grpc"
        self.address = f"{scheme}://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [OPTUNA_RUN, "storage-proxy", "--port", str(port), *args],
            env={**cli_env(), "OPTUNA_PROXY_STORAGE": storage, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.lines:
            assert self.process.poll() is None, f"the proxy exited:\n{self.output}"
            assert time.monotonic() < deadline, "the proxy did not start in time"
            time.sleep(0.2)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        time.sleep(0.2)  # the reader takes the last lines
        return code


@contextmanager
def proxy_running(
    storage: str, port: int | None = None, *args: str, env: dict[str, str] | None = None
) -> Iterator[Proxy]:
    proxy = Proxy(storage, port or free_port(), *args, env=env)
    try:
        proxy.wait_ready()
        yield proxy
    finally:
        if proxy.process.poll() is None:
            os.killpg(proxy.process.pid, signal.SIGKILL)
            proxy.process.wait()
