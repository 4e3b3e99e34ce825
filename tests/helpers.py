"""What the tests share besides fixtures (those are in conftest.py), each helper once.

Writing real study and search-space files, checking a ConfigError, running a study or the
CLI in-process, driving `optuna-run` as separate processes and reading back what they left in
the stores, starting a real server on a free localhost port, and the champion the serving
tests classify with.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from click.testing import Result
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient
    from optuna.trial import FrozenTrial

    from fashion_models.config.yaml_source import ConfigError
    from fashion_models.track.registry import Promotion
    from fashion_models.train.data import Splits

BIN = Path(sys.executable).parent
OPTUNA_RUN = str(BIN / "optuna-run")
_SCRIPT = shutil.which("optuna-run", path=sysconfig.get_path("scripts"))
CLI = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "fashion_models.cli"]
# The environment variables that point a study at other stores than its file names. The test
# process exports MLFLOW_TRACKING_URI itself (mlflow.set_tracking_uri() does): a command or a
# worker must only see the overrides its test gives it.
STORE_OVERRIDES = ("OPTUNA_STORAGE", "MLFLOW_TRACKING_URI")

# --------------------------------------------------------------------------- files


def write_yaml(directory: Path, text: str, name: str = "space.yaml") -> Path:
    """Write dedented `text` as directory/name, so that its first non-blank line is line 1."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# A small space every sampler can handle, grid included (no float without a step).
SMALL_SPACE = """
model: cnn
params:
  conv_layers: {type: int, low: 1, high: 2}
  filters: {type: categorical, choices: [16, 32], per_layer: conv_layers}
  dropout: {type: float, low: 0.0, high: 0.2, step: 0.1}
  optimizer: {type: categorical, choices: [adam, sgd]}
  epochs: {type: fixed, value: 2}
"""
# The least a study file holds (a study on SMALL_SPACE, loaded but never run).
MINIMAL_STUDY = """
study:
  name: demo
  n_trials: 3
search_space: space.yaml
"""
NO_ENV: dict[str, str] = {}  # no OPTUNA_STORAGE or MLFLOW_TRACKING_URI for load_config


def write_study_text(directory: Path, text: str, space: str = SMALL_SPACE) -> Path:
    """A study file written from `text` (study.yaml), plus the search space it points at
    (space.yaml beside it)."""
    write_yaml(directory, space, "space.yaml")
    return write_yaml(directory, text, "study.yaml")


# Two pooled conv layers, 1 epoch: about 2 s a trial on 480 images and 2 cores.
TINY_CNN = """
model: cnn
params:
  conv_layers: {type: fixed, value: 2}
  filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}
  kernel_size: {type: fixed, value: 3}
  pooling: {type: fixed, value: max}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: fixed, value: 32}
  learning_rate: {type: float, low: 1.0e-3, high: 5.0e-3, log: true}
  batch_size: {type: fixed, value: 32}
  epochs: {type: fixed, value: 1}
"""


# Three epochs: long enough for a signal to land in the middle of a trial.
SLOW_CNN = TINY_CNN.replace("epochs: {type: fixed, value: 1}", "epochs: {type: fixed, value: 3}")


def write_study(
    tmp_path: Path,
    *,
    name: str = "tiny",
    n_trials: int = 2,
    space: str = TINY_CNN,
    sampler: str = "{type: random}",
    pruner: str = "{type: none}",
    registry: str = "{model_name: tiny-model, promote: if_better}",
    extra: str = "",
) -> Path:
    """A study that really runs: 600 training / 500 test images, stores under tmp_path/store."""
    (tmp_path / f"{name}_space.yaml").write_text(textwrap.dedent(space))
    study = f"""
study: {{name: {name}, n_trials: {n_trials}, seed: 3}}
storage: sqlite:///{tmp_path}/store/optuna.db
sampler: {sampler}
pruner: {pruner}
search_space: {name}_space.yaml
data: {{train_size: 600, test_size: 500, validation_split: 0.2}}
tracking: {{uri: "sqlite:///{tmp_path}/store/mlflow.db", experiment: {name}}}
registry: {registry}
{extra}"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(study)
    return path


# The study and search space the CLI tests run `optuna-run` on, as a user keeps them: the
# space in spaces/, relative stores.
CLI_SPACE = """
model: cnn
params:
  conv_layers: {type: int, low: 1, high: 2}
  filters: {type: categorical, choices: [8, 16], per_layer: conv_layers}
  kernel_size: {type: fixed, value: 3}
  pooling: {type: fixed, value: max}
  padding: {type: fixed, value: same}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: categorical, choices: [16, 32], per_layer: dense_layers}
  learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}
"""
CLI_STUDY = """
study:
  name: cli-check
  n_trials: 4
  seed: 3
storage: sqlite:///store/optuna.db
sampler:
  type: tpe
  n_startup_trials: 2
pruner:
  type: median
search_space: spaces/small.yaml
tracking:
  uri: sqlite:///store/mlflow.db
  experiment: cli-check
"""


def write_cli_files(directory: Path, study: str = CLI_STUDY, space: str = CLI_SPACE) -> Path:
    """study.yaml and spaces/small.yaml in `directory`; the study file's path."""
    write_yaml(directory / "spaces", space, "small.yaml")
    return write_yaml(directory, study, "study.yaml")


def tree(directory: Path) -> list[str]:
    """Every path under `directory`, relative and sorted: what a command wrote shows."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# --------------------------------------------------------------------------- errors


def assert_config_error(
    exc: ConfigError, path: Path, key: str, line: int | None, fragment: str
) -> None:
    """The error names the file, the key path, the line (where YAML gives one) and the rule."""
    assert exc.file == str(path)
    assert exc.key == key
    assert exc.line == line
    assert fragment in exc.message
    where = f"{path}:{line}" if line else str(path)
    assert str(exc) == (f"{where}: {key}: {exc.message}" if key else f"{where}: {exc.message}")
    assert "\n" not in str(exc)


# --------------------------------------------------------------------------- in-process runs


def run_study_file(path: Path) -> tuple[optuna.Study, Promotion | None]:
    """Run the study of file `path` in this process: (its study, what the registry did)."""
    from fashion_models.config.study_file import load_config
    from fashion_models.run.runner import run_study

    session, promotion = run_study(load_config(path, env={}), echo=lambda _: None)
    return session.study, promotion


def cli(*args: str) -> Result:
    """`optuna-run ARGS` in this process, without the test process's store overrides."""
    from click.testing import CliRunner

    from fashion_models.cli import main

    runner = CliRunner(env=dict.fromkeys(STORE_OVERRIDES))
    return runner.invoke(main, list(args), catch_exceptions=False)


def cli_env() -> dict[str, str]:
    """The user's environment for an `optuna-run` process, less the store overrides."""
    env = {k: v for k, v in os.environ.items() if k not in STORE_OVERRIDES}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


@dataclass(frozen=True)
class CliRun:
    """One finished `optuna-run` process and the folder it ran in, before and after."""

    proc: subprocess.CompletedProcess[str]
    cwd: Path
    before: list[str]
    after: list[str]


def run_side_by_side(commands: dict[str, tuple[list[str], Path]]) -> dict[str, CliRun]:
    """Start every `optuna-run ARGS` in its folder at once (each TensorFlow import costs
    seconds), then wait for all of them."""
    before = {name: tree(cwd) for name, (_, cwd) in commands.items()}
    procs = {
        name: subprocess.Popen(
            [*CLI, *args],
            cwd=cwd,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, cwd) in commands.items()
    }
    runs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        cwd = commands[name][1]
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        runs[name] = CliRun(done, cwd, before[name], tree(cwd))
    return runs


# --------------------------------------------------------------------------- `optuna-run` workers

_started: list[subprocess.Popen[str]] = []


def start(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`optuna-run PATH ARGS` in the study file's directory, as a user would start it."""
    base = {k: v for k, v in os.environ.items() if k not in STORE_OVERRIDES}
    process = subprocess.Popen(
        [OPTUNA_RUN, str(path), *args],
        cwd=path.parent,
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that stop_started() reaches its workers too
    )
    _started.append(process)
    return process


def stop_started() -> None:
    """Kill what start() started and is still running, workers included (conftest.py calls
    this after every test: a failed test must not leave its workers running)."""
    while _started:
        process = _started.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store/optuna.db"


def load_study(storage: str, name: str = "tiny") -> optuna.Study:
    import optuna

    return optuna.load_study(study_name=name, storage=storage)


def wait_for_running_trial(
    storage: str, process: subprocess.Popen[str], timeout: float = 120
) -> int:
    """The number of a trial that is RUNNING and already has its MLflow run (a SQLite file or
    a database server)."""
    import sqlalchemy
    from optuna.trial import TrialState

    from fashion_models.config.stores import sqlite_file
    from fashion_models.search.claims import store_init_lock

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        db = sqlite_file(storage)  # reading must not create the file before the worker does
        try:  # under the worker's store-creation lock: reading must not race its schema setup
            with store_init_lock(storage):
                running = (
                    load_study(storage).get_trials(states=(TrialState.RUNNING,))
                    if db is None or db.exists()
                    else []
                )
        except (KeyError, ValueError, sqlalchemy.exc.SQLAlchemyError):  # not created yet
            running = []
        for trial in running:
            if "mlflow_run_id" in trial.user_attrs:
                return trial.number
        time.sleep(0.5)
    raise AssertionError("no trial started in time")


def failed(study: optuna.Study) -> list[FrozenTrial]:
    from optuna.trial import TrialState

    return study.get_trials(states=(TrialState.FAIL,))


# --------------------------------------------------------------------------- the stores


def mlflow_client(directory: Path) -> MlflowClient:
    """A client of the MLflow store under directory/store (tracking and registry)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{directory}/store/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{directory}/store/mlflow.db")
    return MlflowClient()


def trial_runs(client: MlflowClient, experiment: str) -> dict[str, list[Run]]:
    """The experiment's runs, by the trial number they are tagged with."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    out: dict[str, list[Run]] = {}
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        if "optuna.kind" in run.data.tags:  # the study run and a final retrain: no trial's
            continue
        out.setdefault(run.data.tags["optuna.trial"], []).append(run)
    return out


def trial_run_list(client: MlflowClient, experiment: str) -> list[Run]:
    """The trial runs of the experiment (not the study run or a final retrain)."""
    return [run for runs in trial_runs(client, experiment).values() for run in runs]


def assert_exact_study(study: optuna.Study, n_trials: int, client: MlflowClient) -> None:
    """n_trials finished trials, unique numbers, and one MLflow run per trial (and back)."""
    from optuna.trial import TrialState

    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))
    runs = trial_runs(client, study.study_name)
    assert sorted(runs) == sorted(str(n) for n in numbers)
    assert all(len(r) == 1 for r in runs.values())
    for trial in finished:
        assert runs[str(trial.number)][0].info.run_id == trial.user_attrs["mlflow_run_id"]


def assert_killed_trial_recovered(
    study: optuna.Study, client: MlflowClient, number: int, n_trials: int
) -> Run:
    """After a worker was SIGKILLed in trial `number` and another start finished the study:
    exactly n_trials, that trial failed for its missing heartbeat (its run closed FAILED) and
    was retried once with its params. Returns the dead trial's run."""
    assert_exact_study(study, n_trials, client)
    [dead] = failed(study)
    assert dead.number == number
    [run] = trial_runs(client, study.study_name)[str(number)]
    assert run.info.status == "FAILED"
    assert "no heartbeat" in run.data.tags["fail_reason"]
    retried = [t for t in study.get_trials() if t.system_attrs.get("failed_trial") == number]
    assert len(retried) == 1 and retried[0].params == dead.params
    return run


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(
    url: str, body: dict[str, Any] | None = None, auth: tuple[str, str] | None = None
) -> Any:
    """GET `url` (POST with `body`) and read its JSON; `auth`: HTTP basic user and password."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextmanager
def serving(
    command: list[str],
    ready_url: str,
    log: Path,
    timeout: float = 90,
    kill: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (with `env` added to this process's environment) until the block ends;
    wait until `ready_url` answers 200 first. `kill`: end it with SIGKILL (a crash), not
    SIGTERM."""
    with log.open("w") as out:
        # Its own process group: servers fork workers, and all of them must stop with the test.
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} not ready after {timeout}s:\n{log.read_text()}")
            time.sleep(0.5)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def mlflow_models_serve(model_uri: str, tracking_uri: str, log: Path) -> Iterator[str]:
    """`mlflow models serve` of `model_uri` on a free port, until the block ends; its URL."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    # As in an activated virtual environment: MLflow starts `uvicorn` from PATH.
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    command = ["env", f"PATH={path}", f"MLFLOW_TRACKING_URI={tracking_uri}",
               str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri,
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/ping", log, timeout=120):
        yield url


@contextmanager
def pg_connections(url: str, every: float = 0.1) -> Iterator[list[dict[str, int]]]:
    """Samples of the connections open to the database of `url` (a PostgreSQL URL), each a
    count by application_name, taken every `every` seconds while the block runs (from the
    server's `postgres` database: the sampler's own connection is not among them)."""
    import threading

    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = target.set(drivername="postgresql", database="postgres")
    samples: list[dict[str, int]] = []
    done = threading.Event()
    sql = (
        "SELECT application_name, count(*) FROM pg_stat_activity "
        "WHERE datname = %s GROUP BY application_name"
    )

    def sample() -> None:
        with psycopg.connect(admin.render_as_string(hide_password=False)) as connection:
            connection.autocommit = True
            while not done.wait(every):
                rows = connection.execute(sql, (target.database,)).fetchall()
                samples.append({str(name): int(n) for name, n in rows})

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        done.set()
        sampler.join(timeout=10)


# --------------------------------------------------------------------------- serving


@dataclass(frozen=True)
class Champion:
    """The registered model the serving tests use (the `champion` fixture trains it)."""

    tracking_uri: str
    model_uri: str  # models:/shop-model@champion
    version: str
    test: Splits  # the study's own test split: what the model's test accuracy was measured on

    def connect(self) -> None:
        """Point this process at the champion's store (other tests move the global URI)."""
        from fashion_models.track import experiment as tracking

        tracking.connect(self.tracking_uri)

    def cli(self, *args: str) -> tuple[int, str]:
        """`optuna-run ARGS --model <champion> --tracking-uri <its store>` in this process."""
        from click.testing import CliRunner

        from fashion_models.cli import main

        uri = ["--model", self.model_uri, "--tracking-uri", self.tracking_uri]
        result = CliRunner().invoke(main, [*args, *uri])
        return result.exit_code, result.output
