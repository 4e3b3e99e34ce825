"""The `optuna-run` CLI on bad and good files, driven as a user drives it.

Bad input: exit 2, one `error:` line naming the file and the key, nothing written.
`optuna-run validate`: exit 0, `valid`, sampled configurations with their parameter counts.

Bad files are checked in-process with click's CliRunner (they never import TensorFlow) and a
few of them again in a real subprocess; `validate` on good files imports TensorFlow, so
those subprocesses are started together, once per module.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from fashion_models.cli import main
from fashion_models.spec.yaml_source import ConfigError

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = shutil.which("optuna-run", path=sysconfig.get_path("scripts"))
CLI = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "fashion_models.cli"]
# TensorFlow and absl log to stderr on import, whatever the CLI does.
TF_NOISE = re.compile(r"^([IWEF]\d{4} \d|WARNING: All log messages before absl)")

SPACE = """
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
STUDY = """
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


def write_yaml(path: Path, text: str) -> Path:
    """Write dedented `text` so that its first non-blank line is line 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def write_files(directory: Path, study: str = STUDY, space: str = SPACE) -> Path:
    write_yaml(directory / "spaces" / "small.yaml", space)
    return write_yaml(directory / "study.yaml", study)


def tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def cli_env() -> dict[str, str]:
    """The user's environment, less the overrides that would point the stores elsewhere."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPTUNA_STORAGE", "MLFLOW_TRACKING_URI")
    }
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
    """Start every command at once (each TensorFlow import costs seconds), then wait."""
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


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not TF_NOISE.match(line)]


# --------------------------------------------------------------------------- bad input

# (study text, space text, args, fragments the one error line must hold); "{space}" stands
# for the absolute path of the search-space file, which is what the loader reports.
BAD_INPUTS = [
    pytest.param(
        STUDY,
        SPACE.replace("high: 1e-2, log: true", "high: 1e-2, log: true, step: 1e-3"),
        ["study.yaml"],
        ["{space}:10: params.learning_rate.step: ", "step cannot be combined with log"],
        id="bad-search-space-value",
    ),
    pytest.param(
        STUDY.replace("  seed: 3\n", "  seed: 3\n  n_trials: 5\n"),
        SPACE,
        ["run", "study.yaml"],
        ["study.yaml:5: study.n_trials: duplicate key"],
        id="duplicate-key",
    ),
    pytest.param(
        STUDY.replace("n_startup_trials: 2", "n_startup: 2"),
        SPACE,
        ["study.yaml"],
        ["study.yaml:8: sampler.n_startup: not an argument of TPESampler"],
        id="unknown-sampler-kwarg",
    ),
    pytest.param(
        STUDY,
        SPACE,
        ["nowhere.yaml"],
        ["nowhere.yaml: file not found"],
        id="missing-study-file",
    ),
    pytest.param(
        STUDY.replace("spaces/small.yaml", "spaces/missing.yaml"),
        SPACE,
        ["validate", "study.yaml"],
        ["study.yaml:11: search_space: search-space file not found"],
        id="missing-search-space-file",
    ),
    pytest.param(
        STUDY.replace("type: median", "type: percentile\n  percentile: 150"),
        SPACE,
        ["validate", "study.yaml"],
        ["study.yaml:9: pruner: PercentilePruner rejected its arguments"],
        id="bad-pruner-kwarg-value",
    ),
    pytest.param(
        STUDY,
        SPACE.replace("choices: [8, 16]", "choices: [8, 16], type: int"),
        ["run", "study.yaml"],
        ["{space}:4: params.filters.type: duplicate key"],
        id="duplicate-key-in-flow-mapping",
    ),
    pytest.param(
        STUDY,
        SPACE.replace("model: cnn", "model: mlp"),
        ["validate", "study.yaml"],
        ["{space}:3: params.conv_layers: not a parameter of a mlp model"],
        id="conv-param-in-mlp",
    ),
    pytest.param(
        STUDY.replace("experiment: cli-check", "experiment: cli-check\n  url: http://x"),
        SPACE,
        ["study.yaml"],
        ["study.yaml:15: tracking.url: unknown key"],
        id="unknown-tracking-key",
    ),
]
# The ones run again in a real process: one of each kind the issue names.
SUBPROCESS_CASES = (
    "bad-search-space-value",
    "duplicate-key",
    "unknown-sampler-kwarg",
    "missing-study-file",
)
SUBPROCESS_INPUTS = [case for case in BAD_INPUTS if case.id in SUBPROCESS_CASES]


def expected(fragments: list[str], directory: Path) -> list[str]:
    space = (directory / "spaces" / "small.yaml").resolve()
    return [f.replace("{space}", str(space)) for f in fragments]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path, as a user in a fresh folder, with no store overrides set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.mark.parametrize(("study", "space", "args", "fragments"), BAD_INPUTS)
def test_bad_input_in_process(
    in_tmp: Path, study: str, space: str, args: list[str], fragments: list[str]
) -> None:
    write_files(in_tmp, study, space)
    before = tree(in_tmp)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for fragment in expected(fragments, in_tmp):
        assert fragment in lines[0]
    assert tree(in_tmp) == before  # no store, no mlruns, nothing


def test_debug_shows_the_exception(in_tmp: Path) -> None:
    write_files(in_tmp, STUDY.replace("n_startup_trials: 2", "n_startup: 2"))
    result = CliRunner().invoke(main, ["--debug", "validate", "study.yaml"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "sampler.n_startup" in str(result.exception)


# --------------------------------------------------------------------------- real processes

SEED_STUDIES = {"seed_cnn": "599,754", "seed_mlp": "109,386"}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    """Real `optuna-run` processes, each in a fresh folder of its own, run side by side.

    The seed studies are run by absolute path from an empty folder: their search_space is
    found beside the study file, and the relative stores (sqlite:///mlruns/...) would land
    in that folder, where a write shows (mlruns/ in the repository may be in use by a
    study someone is running).
    """
    commands: dict[str, tuple[list[str], Path]] = {}
    for case in SUBPROCESS_INPUTS:
        study, space, args, _ = case.values
        folder = tmp_path_factory.mktemp(str(case.id))
        write_files(folder, str(study), str(space))
        commands[str(case.id)] = (cast(list[str], args), folder)
    good = tmp_path_factory.mktemp("good")
    write_files(good)
    commands["good"] = (["validate", "study.yaml", "--samples", "4"], good)
    for name in SEED_STUDIES:
        study = str(REPO / "experiments" / f"{name}.yaml")
        commands[name] = (["validate", study], tmp_path_factory.mktemp(name))
    return run_side_by_side(commands)


@pytest.mark.parametrize(
    ("name", "fragments"),
    [pytest.param(case.id, case.values[3], id=case.id) for case in SUBPROCESS_INPUTS],
)
def test_bad_input_in_a_real_process(
    cli_runs: dict[str, CliRun], name: str, fragments: list[str]
) -> None:
    run = cli_runs[name]
    assert run.proc.returncode == 2, run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    assert run.proc.stdout == ""
    lines = error_lines(run.proc.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for fragment in expected(fragments, run.cwd):
        assert fragment in lines[0]
    assert not (run.cwd / "store").exists()
    assert not (run.cwd / "mlruns").exists()
    assert run.after == run.before


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
