"""Tests for fashion_models.cli.study_commands: `validate` on good files in real `optuna-run`
processes (they import TensorFlow, so they are started together, once per module),
`status` on the session's finished study, and no password of a storage or tracking URI in
any output or store."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashion_models.config.study_file import load_config
from fashion_models.search.queries import best_completed_trial
from fashion_models.search.study import load_existing_study
from tests.helpers import (
    BIN,
    CLI,
    CliRun,
    cli,
    cli_env,
    free_port,
    run_side_by_side,
    serving,
    write_cli_files,
    write_study,
)

REPO = Path(__file__).resolve().parents[2]
SEED_STUDIES = {"seed_cnn": "599,754", "seed_mlp": "109,386"}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    """Real `optuna-run validate` processes, each in a fresh folder of its own, side by side.

    The seed studies are run by absolute path from an empty folder: their search_space is
    found beside the study file, and the relative stores (sqlite:///mlruns/...) would land
    in that folder, where a write shows (mlruns/ in the repository may be in use by a
    study someone is running).
    """
    commands: dict[str, tuple[list[str], Path]] = {}
    good = tmp_path_factory.mktemp("good")
    write_cli_files(good)
    commands["good"] = (["validate", "study.yaml", "--samples", "4"], good)
    for name in SEED_STUDIES:
        study = str(REPO / "experiments" / f"{name}.yaml")
        commands[name] = (["validate", study], tmp_path_factory.mktemp(name))
    return run_side_by_side(commands)


# `sample 1: 599,754 parameters, 0.54 ms a photo, 12.2 MFLOPs, 2.4 MB  {...}`
SAMPLE_LINE = re.compile(r"^  sample (\d+): ([\d,]+) parameters, [^{]* MB  (\{.*\})$")


def sample_lines(stdout: str) -> list[tuple[int, dict[str, object]]]:
    """(parameter count, params) of each `sample i:` line that validate prints."""
    out = []
    for line in stdout.splitlines():
        match = SAMPLE_LINE.match(line)
        if match:
            out.append((int(match[2].replace(",", "")), ast.literal_eval(match[3])))
    return out


def test_validate_a_good_study_file(cli_runs: dict[str, CliRun]) -> None:
    run = cli_runs["good"]
    assert run.proc.returncode == 0, run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    stdout = run.proc.stdout
    assert stdout.splitlines()[0] == "study.yaml: valid"
    assert "sampler TPESampler, pruner MedianPruner" in stdout
    assert "storage sqlite:///store/optuna.db; tracking sqlite:///store/mlflow.db" in stdout
    assert sum("parameters" in line for line in stdout.splitlines()) == 4
    samples = sample_lines(stdout)
    assert len(samples) == 4
    for count, params in samples:
        assert count > 0
        layers = params["conv_layers"]
        assert layers in (1, 2)
        filters = [k for k in params if k.startswith("filters_")]
        assert filters == [f"filters_{i}" for i in range(int(str(layers)))]
    assert not (run.cwd / "store").exists()
    assert run.after == run.before, "validate wrote into the folder it ran in"


@pytest.mark.parametrize(("name", "count"), SEED_STUDIES.items())
def test_validate_the_seed_studies(cli_runs: dict[str, CliRun], name: str, count: str) -> None:
    run = cli_runs[name]
    assert run.proc.returncode == 0, run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    lines = run.proc.stdout.splitlines()
    assert lines[0] == f"{REPO / 'experiments' / name}.yaml: valid"
    samples = [line for line in lines if "parameters" in line]
    assert len(samples) == 3
    assert all(f": {count} parameters" in line for line in samples)
    assert run.after == [] == run.before, "validate created files (mlruns/?) where it ran"


@pytest.mark.slow
def test_status_table_and_json(finished: Path) -> None:
    study = load_existing_study(load_config(finished, env={}))
    table = cli("status", str(finished))
    assert table.exit_code == 0, table.output
    for trial in study.get_trials():
        assert trial.user_attrs["mlflow_run_id"] in table.output
    assert f"best trial {best_completed_trial(study).number}:" in table.output
    data = json.loads(cli("status", "--json", str(finished)).output)
    assert [t["number"] for t in data["trials"]] == [0, 1, 2]
    assert data["best"]["number"] == best_completed_trial(study).number
    assert data["best"]["value"] == pytest.approx(best_completed_trial(study).value)
    assert data["counts"] == {"COMPLETE": 3}


PLANTED = "plantedSecret123"  # the password of a real PostgreSQL role and of the tracking URI


@pytest.fixture
def secret_database(pg_url: str) -> Iterator[str]:
    """A fresh database owned by a role with a password, reached through a URL that carries
    it (pg_hba is trust on 127.0.0.1: the server takes any password, the URL still holds it)."""
    import psycopg

    suffix = uuid.uuid4().hex[:10]
    role, name = f"fm_secret_{suffix}", f"fm_secret_db_{suffix}"
    admin_url = _plain(pg_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PLANTED}'")
        admin.execute(f'CREATE DATABASE "{name}" OWNER {role}')
    yield f"postgresql+psycopg://{role}:{PLANTED}@127.0.0.1:5432/{name}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f"DROP ROLE IF EXISTS {role}")


def _plain(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL as libpq reads it (optionally of another database), password kept."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _optuna_run(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """A real `optuna-run ARGS` process: its exit code, its stdout and stderr."""
    proc = subprocess.run(
        [*CLI, *args], cwd=cwd, env={**cli_env(), **env}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def _database_text(url: str) -> str:
    """Every row of every table of the database, as text."""
    import psycopg

    with psycopg.connect(_plain(url)) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        return "\n".join(
            str(row[0])
            for t in tables
            for row in connection.execute(f'SELECT x::text FROM "{t}" x')
        )


@pytest.mark.slow
def test_no_password_is_printed_or_stored(tmp_path: Path, secret_database: str) -> None:
    # A storage URL and a tracking URI that carry a password; every command's output, both
    # stores (the Optuna database, the tracking server's database and artifacts) and every
    # file written are searched for it.
    port = free_port()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{server_dir}/mlflow.db",
               "--artifacts-destination", f"{server_dir}/artifacts"]  # fmt: skip
    tracking = f"http://fm-user:{PLANTED}@127.0.0.1:{port}"
    env = {"OPTUNA_STORAGE": secret_database, "MLFLOW_TRACKING_URI": tracking}
    path = write_study(tmp_path, n_trials=2)
    outputs: dict[str, tuple[int, str]] = {}
    with serving(command, f"http://127.0.0.1:{port}/health", tmp_path / "mlflow.log"):
        outputs["validate"] = _optuna_run(tmp_path, env, "validate", str(path))
        outputs["status, no study yet"] = _optuna_run(tmp_path, env, "status", str(path))
        outputs["run"] = _optuna_run(tmp_path, env, str(path), "--workers", "2")
        outputs["status"] = _optuna_run(tmp_path, env, "status", str(path))
        outputs["status --json"] = _optuna_run(tmp_path, env, "status", "--json", str(path))
        outputs["report"] = _optuna_run(tmp_path, env, "report", str(path))
        down = {**env, "OPTUNA_STORAGE": secret_database.replace(":5432/", ":1/")}
        outputs["storage down"] = _optuna_run(tmp_path, down, str(path))
        closed = {**env, "MLFLOW_TRACKING_URI": f"http://fm-user:{PLANTED}@127.0.0.1:{free_port()}"}
        closed["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # fail at once
        outputs["tracking down"] = _optuna_run(tmp_path, closed, "report", str(path))
        optuna_rows = _database_text(secret_database)

    codes = {name: code for name, (code, _) in outputs.items()}
    assert codes == {
        "validate": 0, "status, no study yet": 2, "run": 0, "status": 0, "status --json": 0,
        "report": 0, "storage down": 1, "tracking down": 1,
    }, outputs  # fmt: skip
    for name, (_, out) in outputs.items():
        assert PLANTED not in out, f"{name}:\n{out}"
    # The URLs are still named, masked, where a user needs them.
    assert "fm-user:***@127.0.0.1" in outputs["validate"][1]
    assert ":***@127.0.0.1:5432/" in outputs["run"][1]
    assert ":***@127.0.0.1:1/" in outputs["storage down"][1]
    assert "mlflow_study_run_id" in optuna_rows  # the study's attrs were read
    assert PLANTED not in optuna_rows
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written)
    for file in written:
        assert PLANTED.encode() not in file.read_bytes(), file


def test_validate_shows_the_front_the_budget_and_each_samples_costs(tmp_path: Path) -> None:
    path = write_study(tmp_path, pruner="{type: pareto}", extra="budget: {params: 5000}")
    path.write_text(
        path.read_text().replace("study: {", "study: {metrics: [val_accuracy, serve_ms], ")
    )
    result = cli("validate", str(path), "--samples", "4")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Pareto front of val_accuracy (maximize) and serve_ms (minimize)" in lines[1]
    assert "pruner pareto" in result.output
    assert "  budget params <= 5000" in lines
    samples = [line for line in lines if line.startswith("  sample ")]
    assert len(samples) == 4
    for line in samples:
        count = int(line.split(": ")[1].split(" parameters")[0].replace(",", ""))
        verdict = "within budget" if count <= 5000 else f"over budget: params {count} > 5000"
        assert f"; {verdict}  {{" in line
    assert not (tmp_path / "store").exists()
