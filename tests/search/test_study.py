"""Tests for fashion_models.search.study: a study file names one study, created once, joined
and continued afterwards; the commands that read it need it to exist (real data, real stores)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import cli, run_study_file, trial_run_list, write_study, write_yaml

pytestmark = pytest.mark.slow


def test_second_run_continues_the_same_study(tmp_path: Path) -> None:
    path = write_study(tmp_path, n_trials=2)
    first, _ = run_study_file(path)
    again, promotion = run_study_file(path)
    assert len(again.get_trials()) == 2  # already at n_trials: nothing new runs
    assert again._study_id == first._study_id
    assert promotion is not None and not promotion.promoted  # the same version, registered once
    assert len(MlflowClient().search_model_versions("name = 'tiny-model'")) == 1

    more = write_study(tmp_path, n_trials=3)
    study, _ = run_study_file(more)
    assert [t.number for t in study.get_trials()] == [0, 1, 2]
    assert len(trial_run_list(MlflowClient(), "tiny")) == 3


def test_commands_on_a_missing_study_write_nothing(tmp_path: Path) -> None:
    path = write_study(tmp_path, name="absent")
    for command in ("status", "report", "promote"):
        result = cli(command, str(path))
        assert result.exit_code == 2
        assert "no study 'absent' yet" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "store").exists()


def test_workers_on_one_grid_study_share_the_grid(tmp_path: Path) -> None:
    """Each joined worker seeds its sampler apart, but a grid is shuffled by the study seed
    alone: two workers taking turns cover every grid point once (repeats included)."""
    from fashion_models.config.study_file import load_config
    from fashion_models.search.study import open_study

    space = "model: cnn\nparams:\n  conv_layers: {type: categorical, choices: [1, 2, 3]}\n"
    write_yaml(tmp_path, space, "space.yaml")
    study_file = write_yaml(
        tmp_path,
        "study: {name: g, n_trials: 6, repeats: 2}\nsampler: grid\nsearch_space: space.yaml\n"
        f"storage: sqlite:///{tmp_path}/optuna.db\n",
        "g.yaml",
    )
    config = load_config(study_file, env={})
    workers = [open_study(config).study for _ in range(2)]
    seen = []

    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_categorical("conv_layers", [1, 2, 3])
        seen.append((depth, trial.suggest_int("replicate", 0, 1)))
        return 0.5

    for i in range(6):
        workers[i % 2].optimize(objective, n_trials=1)
    assert sorted(seen) == [(d, r) for d in (1, 2, 3) for r in (0, 1)]
