"""Tests for fashion_models.cli.study_commands: `validate` on good files in real `optuna-run`
processes (they import TensorFlow, so they are started together, once per module), and
`status` on the session's finished study."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from fashion_models.search.study import load_existing_study
from fashion_models.spec.config import load_config
from tests.helpers import CliRun, cli, run_side_by_side, write_cli_files

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


SAMPLE_LINE = re.compile(r"^  sample (\d+): ([\d,]+) parameters  (\{.*\})$")


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
    assert f"best: trial {study.best_trial.number}," in table.output
    data = json.loads(cli("status", "--json", str(finished)).output)
    assert [t["number"] for t in data["trials"]] == [0, 1, 2]
    assert data["best"]["number"] == study.best_trial.number
    assert data["best"]["value"] == pytest.approx(study.best_value)
    assert data["counts"] == {"COMPLETE": 3}
