"""Tests for fashion_models.cli.guard: every failure is one `error:` line and an exit code.

Bad input: exit 2, one `error:` line naming the file and the key, nothing written. Bad files
are checked in-process with click's CliRunner (they never import TensorFlow) and a few of them
again in real `optuna-run` processes, started together once per module. A store that cannot be
reached: exit 1, one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from fashion_models.cli import main
from fashion_models.config.yaml_source import ConfigError
from tests.helpers import (
    CLI_SPACE,
    CLI_STUDY,
    CliRun,
    free_port,
    run_side_by_side,
    tree,
    write_cli_files,
    write_study,
)

# TensorFlow and absl log to stderr on import, whatever the CLI does.
TF_NOISE = re.compile(r"^([IWEF]\d{4} \d|WARNING: All log messages before absl)")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not TF_NOISE.match(line)]


# --------------------------------------------------------------------------- bad input

# (study text, space text, args, fragments the one error line must hold); "{space}" stands
# for the absolute path of the search-space file, which is what the loader reports.
BAD_INPUTS = [
    pytest.param(
        CLI_STUDY,
        CLI_SPACE.replace("high: 1e-2, log: true", "high: 1e-2, log: true, step: 1e-3"),
        ["study.yaml"],
        ["{space}:10: params.learning_rate.step: ", "step cannot be combined with log"],
        id="bad-search-space-value",
    ),
    pytest.param(
        CLI_STUDY.replace("  seed: 3\n", "  seed: 3\n  n_trials: 5\n"),
        CLI_SPACE,
        ["run", "study.yaml"],
        ["study.yaml:5: study.n_trials: duplicate key"],
        id="duplicate-key",
    ),
    pytest.param(
        CLI_STUDY.replace("n_startup_trials: 2", "n_startup: 2"),
        CLI_SPACE,
        ["study.yaml"],
        ["study.yaml:8: sampler.n_startup: not an argument of TPESampler"],
        id="unknown-sampler-kwarg",
    ),
    pytest.param(
        CLI_STUDY,
        CLI_SPACE,
        ["nowhere.yaml"],
        ["nowhere.yaml: file not found"],
        id="missing-study-file",
    ),
    pytest.param(
        CLI_STUDY.replace("spaces/small.yaml", "spaces/missing.yaml"),
        CLI_SPACE,
        ["validate", "study.yaml"],
        ["study.yaml:11: search_space: search-space file not found"],
        id="missing-search-space-file",
    ),
    pytest.param(
        CLI_STUDY.replace("type: median", "type: percentile\n  percentile: 150"),
        CLI_SPACE,
        ["validate", "study.yaml"],
        ["study.yaml:9: pruner: PercentilePruner rejected its arguments"],
        id="bad-pruner-kwarg-value",
    ),
    pytest.param(
        CLI_STUDY,
        CLI_SPACE.replace("choices: [8, 16]", "choices: [8, 16], type: int"),
        ["run", "study.yaml"],
        ["{space}:4: params.filters.type: duplicate key"],
        id="duplicate-key-in-flow-mapping",
    ),
    pytest.param(
        CLI_STUDY,
        CLI_SPACE.replace("model: cnn", "model: mlp"),
        ["validate", "study.yaml"],
        ["{space}:3: params.conv_layers: not a parameter of a mlp model"],
        id="conv-param-in-mlp",
    ),
    pytest.param(
        CLI_STUDY.replace("experiment: cli-check", "experiment: cli-check\n  url: http://x"),
        CLI_SPACE,
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
    write_cli_files(in_tmp, study, space)
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
    write_cli_files(in_tmp, CLI_STUDY.replace("n_startup_trials: 2", "n_startup: 2"))
    result = CliRunner().invoke(main, ["--debug", "validate", "study.yaml"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "sampler.n_startup" in str(result.exception)


# --------------------------------------------------------------------------- real processes


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    """Real `optuna-run` processes on the bad files, each in a fresh folder, side by side."""
    commands: dict[str, tuple[list[str], Path]] = {}
    for case in SUBPROCESS_INPUTS:
        study, space, args, _ = case.values
        folder = tmp_path_factory.mktemp(str(case.id))
        write_cli_files(folder, str(study), str(space))
        commands[str(case.id)] = (cast(list[str], args), folder)
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


# --------------------------------------------------------------------------- stores


@pytest.mark.slow
def test_an_unreachable_tracking_server_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(main, ["run", str(write_study(tmp_path))])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "MLflow" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
