"""One MLflow run per study: the parent of its trial runs, holding the study-level figures.

Several workers (or shells) may join one study at once; the run's id is kept in the Optuna
study's user attrs and created under a store lock, so exactly one run is ever made per study.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from fashion_models.config.sections import StudyConfig
from fashion_models.search.queries import (
    COST_ATTRS,
    STUDY_RUN_ATTR,
    best_completed_trial,
    counted_trials,
    counts_by_state,
    grid_exhausted,
    metric_value,
    pareto_front,
)
from fashion_models.search.study_figures import study_figures
from fashion_models.track.lineage import lineage_tags
from fashion_models.track.locks import lock_name, store_lock
from fashion_models.track.runs import live_run

PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by


def ensure_study_run(study: optuna.Study, experiment_id: str, config: StudyConfig) -> str:
    """The id of the study's run, created once however many workers ask at the same time."""
    client = MlflowClient()
    known = live_run(study.user_attrs.get(STUDY_RUN_ATTR), client)
    if known:
        return known
    with store_lock(lock_name("study-run", experiment_id, study.study_name)):
        # Checked again under the lock: another worker may have created it while we waited.
        known = live_run(study.user_attrs.get(STUDY_RUN_ATTR), client)
        if known:
            return known
        run = client.create_run(
            experiment_id,
            run_name=f"{study.study_name}-study",
            tags={"optuna.study": study.study_name, "optuna.kind": "study", **lineage_tags()},
        )
        for key, value in _study_params(config).items():
            client.log_param(run.info.run_id, key, value)
        study.set_user_attr(STUDY_RUN_ATTR, run.info.run_id)
        return str(run.info.run_id)


def _study_params(config: StudyConfig) -> dict[str, str]:
    kwargs = lambda section: ", ".join(f"{k}={v}" for k, v in section.kwargs.items())  # noqa: E731
    return {
        "n_trials": str(config.study.n_trials),
        "metric": config.study.metric,
        "direction": config.study.direction,
        "seed": str(config.study.seed),
        "sampler": f"{config.sampler.type}({kwargs(config.sampler)})",
        "pruner": f"{config.pruner.type}({kwargs(config.pruner)})",
        "search_space": config.search_space.path.name,
        "model": ",".join(config.search_space.families),
        "train_size": str(config.data.train_size or "all"),
        "validation_split": str(config.data.validation_split),
        "test_size": str(config.data.test_size or "all"),
    }


def refresh_study_run(study: optuna.Study, config: StudyConfig, run_id: str) -> list[str]:
    """Redraw the study figures on the study run and record the best trial and the counts;
    returns the figure files written. The run is FINISHED once the study holds n_trials.

    Under a store lock: workers that each finish the study (shells sharing one) would otherwise
    set the same tags at the same moment, and a SQLite store refuses the second insert of a tag
    (UNIQUE constraint failed: tags.key, tags.run_uuid)."""
    with store_lock(lock_name("study-run-refresh", run_id)):
        return _refresh(MlflowClient(), study, config, run_id)


def _refresh(
    client: MlflowClient, study: optuna.Study, config: StudyConfig, run_id: str
) -> list[str]:
    written = _log_figures(client, run_id, study, config)
    counts = counts_by_state(study)
    for state in ("COMPLETE", "PRUNED", "FAIL", *(("OVER_BUDGET",) if config.budget else ())):
        client.log_metric(run_id, f"trials_{state.lower()}", float(counts.get(state, 0)))
    best = best_completed_trial(study, config.registry.choose)
    if best is not None and best.values is not None:
        client.log_metric(run_id, f"best_{config.study.metric}", float(best.values[0]))
        client.set_tag(run_id, "best_trial", str(best.number))
        client.set_tag(run_id, "best_trial_run_id", str(best.user_attrs.get("mlflow_run_id")))
        if "test_accuracy" in best.user_attrs:
            client.log_metric(run_id, "best_test_accuracy", float(best.user_attrs["test_accuracy"]))
    # A grid ends with its grid, short of n_trials where points were over the budget.
    done = counted_trials(study) >= config.study.n_trials or grid_exhausted(study)
    client.update_run(run_id, status="FINISHED" if done else "RUNNING")
    return written


def front_table(study: optuna.Study, config: StudyConfig) -> dict[str, list[Any]]:
    """The Pareto front as columns (MLflow's table artifact, shown in the UI): each trial's
    metric, test accuracy and costs, by trial number."""
    front = pareto_front(study)
    columns: dict[str, list[Any]] = {
        "trial": [t.number for t in front],
        config.study.metric: [metric_value(t) for t in front],
        "test_accuracy": [t.user_attrs.get("test_accuracy") for t in front],
    }
    for name in COST_ATTRS:
        columns[name] = [t.user_attrs.get(name) for t in front]
    columns["run_id"] = [t.user_attrs.get("mlflow_run_id") for t in front]
    return columns


def _log_figures(
    client: MlflowClient, run_id: str, study: optuna.Study, config: StudyConfig
) -> list[str]:
    written, skipped = [], []
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    layer_counts = [p.per_layer for p in config.search_space.params if p.per_layer]
    figures = study_figures(
        study, config.study.metric, layer_counts, config.study.cost_objectives, config.budget
    )
    for name, draw in figures.items():
        if not complete:
            skipped.append(f"{name}: no complete trial yet")
            continue
        verbosity = optuna.logging.get_verbosity()
        try:
            # Optuna marks the importance evaluators experimental, and warns of params with
            # one value so far; neither is news to the user at the end of a study.
            optuna.logging.set_verbosity(optuna.logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = draw()
        # A figure the study cannot make yet (e.g. importances of a single trial) is noted on
        # the run; it must never fail the study.
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            skipped.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        finally:
            optuna.logging.set_verbosity(verbosity)
        client.log_figure(run_id, fig, f"study/{name}.png")
        written.append(f"study/{name}.png")
    if config.study.multi_objective and complete:
        # MLflow's table format, written whole: log_table would append to the last refresh's.
        columns = front_table(study, config)
        rows = [list(row) for row in zip(*columns.values(), strict=True)]
        client.log_dict(run_id, {"columns": list(columns), "data": rows}, "study/pareto_front.json")
        written.append("study/pareto_front.json")
    note = "\n".join(skipped) or "all figures drawn"
    client.log_text(run_id, note + "\n", "study/figures_skipped.txt")
    return written
