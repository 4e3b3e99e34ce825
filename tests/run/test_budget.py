"""A study under a serving budget (`budget:`): every trial's costs measured before it trains, a
configuration over the budget ended untrained with its costs and reason, the samplers told
through Optuna's constraints, the registered version carrying its costs, a version over the
budget never taking the alias. Real training on small real data, real stores."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from fashion_models.config.sections import COSTS
from fashion_models.search.queries import ARCHITECTURE, COST_ATTRS, COSTS_OF, OVER_BUDGET
from tests.helpers import cli, run_study_file, write_study

pytestmark = pytest.mark.slow

# One pooled conv pair and a dense layer of 16 (4,050 weights) or 512 (108,706 weights).
TWO_HEADS = """
model: cnn
params:
  conv_layers: {type: fixed, value: 2}
  filters: {type: fixed, value: 8}
  kernel_size: {type: fixed, value: 3}
  pooling: {type: fixed, value: max}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: categorical, choices: [16, 512]}
  learning_rate: {type: fixed, value: 0.002}
  batch_size: {type: fixed, value: 32}
  epochs: {type: fixed, value: 1}
"""
# An MLP whose one dense layer has 8 to 1,024 units: 6,370 and 12,730 weights for 8 and 16
# units, the others over 20,000.
WIDTHS = """
model: mlp
params:
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: categorical, choices: [8, 16, 256, 512, 1024]}
  batch_size: {type: fixed, value: 64}
  epochs: {type: fixed, value: 1}
"""


def _run_metrics(trial: FrozenTrial) -> dict[str, float]:
    return MlflowClient().get_run(trial.user_attrs["mlflow_run_id"]).data.metrics


def test_a_model_over_the_budget_is_never_trained_and_the_version_carries_its_costs(
    tmp_path: Path,
) -> None:
    path = write_study(
        tmp_path,
        space=TWO_HEADS,
        sampler="{type: grid}",
        extra="budget: {params: 20000}\nfinal: {epochs: 1}",
    )
    study, promotion = run_study_file(path)

    # The grid's two points: one within the budget trained, one over it ended untrained. It
    # does not count towards n_trials (2): the grid ended first.
    by_units = {t.params["dense_units"]: t for t in study.trials}
    over, within = by_units[512], by_units[16]
    assert over.state == TrialState.PRUNED and within.state == TrialState.COMPLETE
    assert over.user_attrs[OVER_BUDGET] == "over budget: params 108706 > 20000"
    assert over.constraints["params"] == pytest.approx(108_706 / 20_000 - 1)
    assert within.constraints["params"] == pytest.approx(4_050 / 20_000 - 1)
    for trial in (over, within):
        assert set(COSTS) <= set(trial.user_attrs)
        assert trial.user_attrs["params"] in (4_050, 108_706)
        metrics = _run_metrics(trial)
        assert {name: metrics[name] for name in COSTS} == {
            name: pytest.approx(trial.user_attrs[name]) for name in COSTS
        }
    # Never trained: no epoch, no evaluation, no model in its run; it ended as a pruned run
    # that says why.
    assert "val_accuracy" not in _run_metrics(over) and "test_accuracy" not in over.user_attrs
    over_run = MlflowClient().get_run(over.user_attrs["mlflow_run_id"])
    assert over_run.info.status == "KILLED"
    assert over_run.data.tags[OVER_BUDGET] == over.user_attrs[OVER_BUDGET]
    assert not MlflowClient().list_artifacts(over_run.info.run_id)
    assert over.last_step is None

    # The MLflow UI sorts the run table by any of them, as search_runs does.
    experiment = over_run.info.experiment_id
    for cost in COSTS:
        runs = MlflowClient().search_runs(
            [experiment], f"metrics.{cost} > 0", order_by=[f"metrics.{cost} ASC"]
        )
        assert len(runs) == 3  # the two trials and the final retrain
        values = [r.data.metrics[cost] for r in runs]
        assert values == sorted(values)

    # The final retrain was measured again; the registered version carries its costs.
    assert promotion is not None and promotion.promoted
    client = MlflowClient()
    version = client.get_model_version(promotion.model_name, promotion.version)
    final_metrics = client.get_run(version.run_id).data.metrics
    for name in (*COSTS, "serve_ms_p95"):
        assert float(version.tags[name]) == pytest.approx(final_metrics[name], abs=1e-5)
    assert float(version.tags["params"]) == 4_050

    # `status` shows each trial's costs and whether it was within the budget.
    shown = cli("status", str(path), "--json")
    assert shown.exit_code == 0
    rows = {row["number"]: row for row in json.loads(shown.output)["trials"]}
    assert rows[over.number]["feasible"] is False and rows[within.number]["feasible"] is True
    assert rows[over.number]["costs"]["params"] == 108_706
    assert json.loads(shown.output)["counts"] == {"COMPLETE": 1, "OVER_BUDGET": 1}
    table = cli("status", str(path)).output
    assert "1 complete, 1 over budget (n_trials 2)" in table and "OVER" in table

    # The budget tightened below the trained model: it may no longer take the alias, forced
    # or not.
    path.write_text(path.read_text().replace("params: 20000", "params: 1000"))
    refused = cli("promote", str(path), "--trial", str(within.number), "--alias", "edge", "--force")
    assert refused.exit_code == 0, refused.output
    assert "over budget: params 4050 > 1000: a model over the budget never takes @edge" in (
        refused.output
    )
    with pytest.raises(Exception, match="alias"):
        client.get_model_version_by_alias(promotion.model_name, "edge")


def test_a_network_is_measured_once_and_its_repeats_take_those_costs(tmp_path: Path) -> None:
    # Two networks (dense 16 or 512) x two learning rates: the second trial of each network
    # trains, but takes the costs its network's first trial measured, timing noise and all.
    space = TWO_HEADS.replace(
        "learning_rate: {type: fixed, value: 0.002}",
        "learning_rate: {type: categorical, choices: [0.001, 0.002]}",
    )
    path = write_study(tmp_path, space=space, sampler="{type: grid}", n_trials=4,
                       extra="budget: {serve_ms: 1000}")  # fmt: skip
    study, _ = run_study_file(path)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for units in (16, 512):
        first, again = [t for t in trials if t.params["dense_units"] == units]
        assert first.params["learning_rate"] != again.params["learning_rate"]
        assert first.user_attrs[ARCHITECTURE] == again.user_attrs[ARCHITECTURE]
        assert COSTS_OF not in first.user_attrs and again.user_attrs[COSTS_OF] == first.number
        for name in COST_ATTRS:
            assert again.user_attrs[name] == first.user_attrs[name]
        assert _run_metrics(again)["serve_ms"] == pytest.approx(first.user_attrs["serve_ms"])
    digests = {t.user_attrs[ARCHITECTURE] for t in trials}
    assert len(digests) == 2  # the two widths are two networks


def test_tpe_learns_where_the_budget_ends(tmp_path: Path) -> None:
    # Two widths of five fit the budget: random draws over it 3 times in 5 whatever it saw.
    # TPE is told through Optuna's constraints, which it ranks below every feasible trial,
    # and after its 4 random start-up draws it draws over the budget less often than that.
    path = write_study(
        tmp_path,
        space=WIDTHS,
        sampler="{type: tpe, n_startup_trials: 4}",
        n_trials=6,
        extra="budget: {params: 20000}",
    )
    study, _ = run_study_file(path)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6  # 6 trained, within budget
    for trial in trials:  # over the budget exactly when its layer is too wide
        assert (OVER_BUDGET in trial.user_attrs) == (trial.params["dense_units"] > 16)
        assert trial.constraints["params"] > 0 or OVER_BUDGET not in trial.user_attrs
    after_startup = [OVER_BUDGET in t.user_attrs for t in trials[4:]]
    assert sum(after_startup) / len(after_startup) < 3 / 5


def test_a_space_with_nothing_within_the_budget_stops_after_a_bounded_run_of_draws(
    tmp_path: Path,
) -> None:
    path = write_study(
        tmp_path,
        space=WIDTHS,
        n_trials=3,
        extra="budget: {params: 1000}\nworkers: {max_consecutive_over_budget: 4}",
    )
    result = cli("run", str(path))
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: stopped after 4 draws in a row over the budget (the last params")
    assert "raise the budget or narrow the space" in last
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/store/optuna.db")
    assert len(study.trials) == 4
    assert all(OVER_BUDGET in t.user_attrs for t in study.trials)
