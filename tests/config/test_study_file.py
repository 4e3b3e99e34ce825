"""Tests for fashion_models.config.study_file: study files -> a frozen, typed StudyConfig.

Bad study files are rows of a table: YAML in, ConfigError naming (file, key path, line) out.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from fashion_models.config.components import build_pruner, build_sampler
from fashion_models.config.study_file import load_config
from fashion_models.config.yaml_source import ConfigError
from tests.helpers import (
    MINIMAL_STUDY,
    NO_ENV,
    SMALL_SPACE,
    assert_config_error,
    cli,
    write_study,
    write_study_text,
    write_yaml,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- bad study files

# (yaml, key path, line, fragment of the message)
BAD_STUDIES = [
    pytest.param(
        """
        study:
          n_trials: 3
        search_space: space.yaml
        """,
        "study",
        1,
        "missing required key 'name'",
        id="study-name-missing",
    ),
    pytest.param(
        """
        study: {name: "", n_trials: 3}
        search_space: space.yaml
        """,
        "study.name",
        1,
        "expected a non-empty string, found '' (string)",
        id="study-name-empty",
    ),
    pytest.param(
        """
        study:
          name: demo
        search_space: space.yaml
        """,
        "study",
        1,
        "missing required key 'n_trials'",
        id="n-trials-missing",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 0
        search_space: space.yaml
        """,
        "study.n_trials",
        3,
        "expected an integer >= 1, found 0 (integer)",
        id="n-trials-zero",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: ten
        search_space: space.yaml
        """,
        "study.n_trials",
        3,
        "expected an integer >= 1, found 'ten' (string)",
        id="n-trials-string",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 2.5
        search_space: space.yaml
        """,
        "study.n_trials",
        3,
        "found 2.5 (number)",
        id="n-trials-float",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          metric: accuracy
        search_space: space.yaml
        """,
        "study.metric",
        4,
        "expected one of ['val_accuracy', 'val_loss'], found 'accuracy'",
        id="metric-not-in-list",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          direction: up
        search_space: space.yaml
        """,
        "study.direction",
        4,
        "expected maximize or minimize, found 'up' (string)",
        id="direction-not-in-list",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          metric: val_loss
          direction: maximize
        search_space: space.yaml
        """,
        "study.direction",
        5,
        "val_loss must be minimized, found 'maximize'",
        id="direction-inconsistent-with-metric",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          direction: minimize
        search_space: space.yaml
        """,
        "study.direction",
        4,
        "val_accuracy must be maximized, found 'minimize'",
        id="direction-inconsistent-with-default-metric",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          timeout: -5
        search_space: space.yaml
        """,
        "study.timeout",
        4,
        "expected a number of seconds > 0, found -5 (integer)",
        id="timeout-negative",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          timeout: 1h
        search_space: space.yaml
        """,
        "study.timeout",
        4,
        "found '1h' (string)",
        id="timeout-string",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          seed: -1
        search_space: space.yaml
        """,
        "study.seed",
        4,
        "expected an integer >= 0, found -1",
        id="seed-negative",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          trials: 4
        search_space: space.yaml
        """,
        "study.trials",
        4,
        "unknown key (allowed: name, direction, metric, metrics, n_trials",
        id="unknown-key-in-study",
    ),
    pytest.param(
        """
        study: demo
        search_space: space.yaml
        """,
        "study",
        1,
        "expected a mapping, found 'demo' (string)",
        id="study-not-a-mapping",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        trials: 3
        """,
        "trials",
        3,
        "unknown key (allowed: study, storage, sampler, pruner, search_space",
        id="unknown-top-level-key",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        """,
        "",
        1,
        "missing required key 'search_space'",
        id="search-space-key-missing",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: nowhere.yaml
        """,
        "search_space",
        2,
        "search-space file not found: ",
        id="search-space-file-missing",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: 3
        """,
        "search_space",
        2,
        "expected a path to a search-space file, found 3 (integer)",
        id="search-space-not-a-string",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        storage: 5
        """,
        "storage",
        3,
        "expected a non-empty string, found 5 (integer)",
        id="storage-not-a-string",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        data:
          validation_split: 0.2
          batch: 32
        """,
        "data.batch",
        5,
        "unknown key (allowed: validation_split, train_size, test_size)",
        id="unknown-key-in-data",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        tracking:
          url: sqlite:///mlruns/mlflow.db
        """,
        "tracking.url",
        4,
        "unknown key (allowed: uri, experiment)",
        id="unknown-key-in-tracking",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        registry:
          name: classifier
        """,
        "registry.name",
        4,
        "unknown key (allowed: model_name, alias, promote, choose)",
        id="unknown-key-in-registry",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        data: {validation_split: 0}
        """,
        "data.validation_split",
        3,
        "expected a number in (0, 1), found 0 (integer)",
        id="validation-split-zero",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        data:
          validation_split: 1.5
        """,
        "data.validation_split",
        4,
        "expected a number in (0, 1), found 1.5 (number)",
        id="validation-split-above-one",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        data:
          train_size: 70000
        """,
        "data.train_size",
        4,
        "expected at most 60,000, found 70,000",
        id="train-size-too-big",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        data:
          train_size: 10
        """,
        "data.train_size",
        4,
        "expected an integer >= 100, found 10",
        id="train-size-too-small",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        data:
          test_size: 20000
        """,
        "data.test_size",
        4,
        "expected at most 10,000, found 20,000",
        id="test-size-too-big",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        tracking: {uri: ""}
        """,
        "tracking.uri",
        3,
        "expected a non-empty string",
        id="tracking-uri-empty",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        registry:
          promote: sometimes
        """,
        "registry.promote",
        4,
        "expected one of ['never', 'always', 'if_better'], found 'sometimes'",
        id="promote-unknown",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        registry: {alias: ""}
        """,
        "registry.alias",
        3,
        "expected a non-empty string",
        id="alias-empty",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        sampler:
          type: bayes
        """,
        "sampler.type",
        4,
        "expected one of ['tpe', 'random', 'cmaes', 'gp', 'qmc', 'grid', 'nsgaii']",
        id="sampler-type-unknown",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        sampler:
          n_startup_trials: 3
        """,
        "sampler.type",
        3,
        "found None (null)",
        id="sampler-type-missing",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        pruner: {type: early}
        """,
        "pruner.type",
        3,
        "expected one of ['none', 'median', 'percentile', 'successive_halving'",
        id="pruner-type-unknown",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        pruner: [median]
        """,
        "pruner",
        3,
        "expected a mapping with a type key, found ['median'] (list)",
        id="pruner-not-a-mapping",
    ),
    pytest.param(
        """
        study:
          name: demo
          n_trials: 3
          n_trials: 4
        search_space: space.yaml
        """,
        "study.n_trials",
        4,
        "duplicate key",
        id="duplicate-key-in-study",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3}
        search_space: space.yaml
        search_space: other.yaml
        """,
        "search_space",
        3,
        "duplicate key",
        id="duplicate-top-level-key",
    ),
    pytest.param(
        """
        study: {name: demo, n_trials: 3
        search_space: space.yaml
        """,
        "",
        2,
        "is not valid YAML",
        id="invalid-yaml",
    ),
    pytest.param("", "", None, "expected a mapping, found None (null)", id="empty-file"),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), BAD_STUDIES)
def test_bad_study_file_is_a_config_error(
    tmp_path: Path, text: str, key: str, line: int | None, fragment: str
) -> None:
    path = write_study_text(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, key, line, fragment)


def test_missing_study_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.yaml", env=NO_ENV)
    assert_config_error(info.value, tmp_path / "nowhere.yaml", "", None, "file not found")


def test_search_space_error_names_the_search_space_file(tmp_path: Path) -> None:
    bad_space = "model: mlp\nparams:\n  dropout: {type: float, low: 0.0, high: 1.0}\n"
    write_study_text(tmp_path, MINIMAL_STUDY, space=bad_space)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "study.yaml", env=NO_ENV)
    space_path = (tmp_path / "space.yaml").resolve()
    assert_config_error(info.value, space_path, "params.dropout.high", 3, "expected a value < 1")


def test_search_space_path_is_relative_to_the_study_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spaces").mkdir()
    (tmp_path / "studies").mkdir()
    write_yaml(tmp_path / "spaces", SMALL_SPACE, "small.yaml")
    study = write_yaml(
        tmp_path / "studies", MINIMAL_STUDY.replace("space.yaml", "../spaces/small.yaml"), "s.yaml"
    )
    monkeypatch.chdir(tmp_path / "spaces")  # anywhere but the study file's folder
    config = load_config(study, env=NO_ENV)
    assert config.search_space.path == (tmp_path / "spaces" / "small.yaml").resolve()


# --------------------------------------------------------------------------- defaults, env


def test_minimal_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write_study_text(tmp_path, MINIMAL_STUDY), env=NO_ENV)
    assert (config.study.name, config.study.n_trials) == ("demo", 3)
    assert (config.study.metric, config.study.direction) == ("val_accuracy", "maximize")
    assert (config.study.timeout, config.study.seed) == (None, 0)
    assert (config.sampler.type, dict(config.sampler.kwargs)) == ("tpe", {})
    assert (config.pruner.type, dict(config.pruner.kwargs)) == ("median", {})
    assert (config.registry.alias, config.registry.promote) == ("champion", "if_better")
    assert config.tracking.experiment == "demo"
    assert (config.data.validation_split, config.data.train_size) == (0.2, None)
    assert isinstance(build_sampler(config), optuna.samplers.TPESampler)
    assert isinstance(build_pruner(config), optuna.pruners.MedianPruner)


def test_val_loss_defaults_to_minimize(tmp_path: Path) -> None:
    text = MINIMAL_STUDY.replace("n_trials: 3", "n_trials: 3\n  metric: val_loss")
    config = load_config(write_study_text(tmp_path, text), env=NO_ENV)
    assert (config.study.metric, config.study.direction) == ("val_loss", "minimize")


WITH_STORES = (
    MINIMAL_STUDY
    + """
storage: sqlite:///from-file/optuna.db
tracking:
  uri: sqlite:///from-file/mlflow.db
"""
)


@pytest.mark.parametrize(
    ("env", "storage", "tracking_uri"),
    [
        pytest.param(
            {}, "sqlite:///from-file/optuna.db", "sqlite:///from-file/mlflow.db", id="file"
        ),
        pytest.param(
            {
                "OPTUNA_STORAGE": "postgresql://db/optuna",
                "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            },
            "postgresql://db/optuna",
            "http://mlflow:5000",
            id="env-overrides-both",
        ),
        pytest.param(
            {"OPTUNA_STORAGE": "journal/optuna.log"},
            "journal/optuna.log",
            "sqlite:///from-file/mlflow.db",
            id="env-overrides-storage-only",
        ),
        pytest.param(
            {"OPTUNA_STORAGE": "", "MLFLOW_TRACKING_URI": ""},
            "sqlite:///from-file/optuna.db",
            "sqlite:///from-file/mlflow.db",
            id="empty-env-ignored",
        ),
    ],
)
def test_env_overrides_the_file(
    tmp_path: Path, env: dict[str, str], storage: str, tracking_uri: str
) -> None:
    config = load_config(write_study_text(tmp_path, WITH_STORES), env=env)
    assert (config.storage, config.tracking.uri) == (storage, tracking_uri)


def test_load_config_writes_nothing(tmp_path: Path) -> None:
    path = write_study_text(tmp_path, WITH_STORES)
    before = sorted(tmp_path.rglob("*"))
    config = load_config(path, env=NO_ENV)
    build_sampler(config), build_pruner(config)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    ("extra", "key", "line"),
    [
        pytest.param(
            "pruner:\n  type: patient\n  patience: 1\n  wrapped_pruner:\n    type: bogus\n",
            "pruner.wrapped_pruner.type",
            9,
            id="wrapped-type-unknown",
        ),
        pytest.param(
            "pruner:\n  type: patient\n  patience: 1\n  wrapped_pruner: 5\n",
            "pruner.wrapped_pruner",
            8,
            id="wrapped-not-a-mapping",
        ),
    ],
)
def test_wrapped_pruner_errors_name_the_wrapped_pruner(
    tmp_path: Path, extra: str, key: str, line: int
) -> None:
    path = write_study_text(tmp_path, MINIMAL_STUDY + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, key, line, "")


def test_storage_url_with_an_unknown_dialect_is_a_config_error(tmp_path: Path) -> None:
    path = write_study_text(tmp_path, MINIMAL_STUDY + "storage: sqlte:///store/optuna.db\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, "storage", 5, "sqlte")


def test_a_split_that_leaves_a_side_without_every_class_is_a_config_error(
    tmp_path: Path,
) -> None:
    # 100 images with 5% held out would leave 5 validation images for 10 classes.
    path = write_study_text(
        tmp_path, MINIMAL_STUDY + "data: {train_size: 100, validation_split: 0.05}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, "data.validation_split", 5, "at least 10 images")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("final", "message"),
    [
        ("final: {epochs: 0}", "final.epochs: expected an integer >= 1, found 0"),
        ("final: {data: test}", "final.data: expected one of ['train+validation', 'train']"),
        ("final: {on: train}", "final.on: renamed: write `data: train+validation`"),
        ("final: {true: train}", "final.true: renamed: write `data: train+validation`"),
        ("final: {epoch: 3}", "final.epoch: unknown key"),
        ("final: {train_size: 70000}", "final.train_size: expected at most 60,000, found 70,000"),
        ("final: {train_size: 50}", "final.train_size: expected an integer >= 100, found 50"),
    ],
)
def test_bad_final_section_is_a_user_error(tmp_path: Path, final: str, message: str) -> None:
    path = write_study(tmp_path, extra=final)
    result = cli("validate", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "store").exists()


# --------------------------------------------------------------------------- budget


@pytest.mark.parametrize(
    ("budget", "key", "fragment"),
    [
        ("{latency_ms: 3}", "budget.latency_ms", "unknown key (allowed: serve_ms, params,"),
        ("{serve_ms: 0}", "budget.serve_ms", "expected a finite maximum serve_ms > 0, found 0"),
        ("{params: -5}", "budget.params", "expected a finite maximum params > 0, found -5"),
        ("{mflops: .inf}", "budget.mflops", "found inf"),
        ("{model_mb: true}", "budget.model_mb", "found True (boolean)"),
        ("{model_mb: 2MB}", "budget.model_mb", "found '2MB'"),
        ("[serve_ms]", "budget", "expected a mapping"),
    ],
)
def test_a_bad_budget_is_a_config_error(
    tmp_path: Path, budget: str, key: str, fragment: str
) -> None:
    path = write_study_text(tmp_path, MINIMAL_STUDY + f"budget: {budget}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert_config_error(info.value, path, key, 5, fragment)


def test_a_budget_caps_each_cost_it_names(tmp_path: Path) -> None:
    text = MINIMAL_STUDY + "budget: {serve_ms: 1.5, params: 200000}\n"
    config = load_config(write_study_text(tmp_path, text), env=NO_ENV)
    assert config.budget == {"serve_ms": 1.5, "params": 200000.0}
    assert load_config(write_study_text(tmp_path, MINIMAL_STUDY), env=NO_ENV).budget == {}


def test_a_bad_budget_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = write_study(tmp_path, extra="budget: {serve_ms: 0}")
    result = cli("run", str(path))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {path}:10: budget.serve_ms: expected a finite maximum serve_ms > 0, found 0 "
        "(integer)"
    ]
    assert not (tmp_path / "store").exists()


# --------------------------------------------------------------------------- several objectives


def test_metrics_make_a_multi_objective_study_pruned_by_pareto(tmp_path: Path) -> None:
    text = MINIMAL_STUDY.replace("n_trials: 3", "n_trials: 3\n  metrics: [val_accuracy, serve_ms]")
    config = load_config(write_study_text(tmp_path, text), env=NO_ENV)
    assert config.study.objectives == ("val_accuracy", "serve_ms")
    assert config.study.directions == ("maximize", "minimize")
    assert config.study.multi_objective and config.pruner.type == "pareto"
    single = load_config(write_study_text(tmp_path, MINIMAL_STUDY), env=NO_ENV)
    assert not single.study.multi_objective and single.pruner.type == "median"


@pytest.mark.parametrize(
    ("extra", "key", "fragment"),
    [
        (
            "  metrics: [val_accuracy, latency]",
            "study.metrics[1]",
            "expected a serving cost, one of ['serve_ms', 'params', 'model_mb', 'mflops'], "
            "found 'latency'",
        ),
        (
            "  metrics: [serve_ms, val_accuracy]",
            "study.metrics[0]",
            "expected the metric trials are trained and pruned on first",
        ),
        ("  metrics: [val_loss, params, params]", "study.metrics[2]", "already an objective"),
        ("  metrics: val_accuracy", "study.metrics", "expected a list"),
        ("  metrics: [val_accuracy]\n  metric: val_accuracy", "study.metrics", "not both"),
    ],
)
def test_a_metric_that_is_not_a_metric_is_a_config_error(
    tmp_path: Path, extra: str, key: str, fragment: str
) -> None:
    path = write_study_text(tmp_path, MINIMAL_STUDY.replace("n_trials: 3", "n_trials: 3\n" + extra))
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert info.value.key == key and fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (
            "registry: {choose: {latency_ms: 2}}",
            "registry.choose.latency_ms",
            "unknown key (allowed: serve_ms, params, model_mb, mflops)",
        ),
        ("registry: {choose: {serve_ms: 0}}", "registry.choose.serve_ms", "> 0, found 0"),
        ("pruner: pareto", "pruner.type", "pareto prunes a multi-objective study"),
    ],
)
def test_a_bad_choice_or_pruner_is_a_config_error(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    path = write_study_text(tmp_path, MINIMAL_STUDY + text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert info.value.key == key and fragment in info.value.message


def test_optunas_pruners_are_refused_for_several_objectives(tmp_path: Path) -> None:
    text = MINIMAL_STUDY.replace("n_trials: 3", "n_trials: 3\n  metrics: [val_accuracy, mflops]")
    path = write_study_text(tmp_path, text + "pruner: {type: median}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=NO_ENV)
    assert info.value.key == "pruner.type"
    assert "prunes with pareto or none (Optuna's pruners need one objective)" in info.value.message
    bad = write_study_text(tmp_path, text + "pruner: {type: pareto, n_warmup_steps: -1}\n")
    result = cli("validate", str(bad))
    assert result.exit_code == 2
    assert "pruner.n_warmup_steps: expected an integer >= 0, found -1" in result.output
