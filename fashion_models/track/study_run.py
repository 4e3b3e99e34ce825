"""One MLflow run per study: the parent of its trial runs, holding the study-level figures.

Several workers (or shells) may join one study at once; the run's id is kept in the Optuna
study's user attrs and created under a store lock, so exactly one run is ever made per study.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # Optuna's matplotlib plots go through pyplot: never ask for a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from fashion_models.config.sections import StudyConfig  # noqa: E402
from fashion_models.search.queries import (  # noqa: E402
    COUNTED_STATES,
    STUDY_RUN_ATTR,
    best_completed_trial,
    counted_trials,
    counts_by_state,
)
from fashion_models.track.lineage import lineage_tags  # noqa: E402
from fashion_models.track.locks import lock_name, store_lock  # noqa: E402

PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by


def ensure_study_run(study: optuna.Study, experiment_id: str, config: StudyConfig) -> str:
    """The id of the study's run, created once however many workers ask at the same time."""
    client = MlflowClient()
    known = _live_run(client, study.user_attrs.get(STUDY_RUN_ATTR))
    if known:
        return known
    with store_lock(lock_name("study-run", experiment_id, study.study_name)):
        # Checked again under the lock: another worker may have created it while we waited.
        known = _live_run(client, study.user_attrs.get(STUDY_RUN_ATTR))
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


def _live_run(client: MlflowClient, run_id: Any) -> str | None:
    """`run_id` if it names a run of this store that was not deleted (a changed tracking URI or
    a run deleted in the UI means a new study run)."""
    if not isinstance(run_id, str):
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    return run_id if run.info.lifecycle_stage == "active" else None


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
        "model": config.search_space.model,
        "train_size": str(config.data.train_size or "all"),
        "validation_split": str(config.data.validation_split),
        "test_size": str(config.data.test_size or "all"),
    }


def refresh_study_run(study: optuna.Study, config: StudyConfig, run_id: str) -> list[str]:
    """Redraw the study figures on the study run and record the best trial and the counts;
    returns the figure files written. The run is FINISHED once the study holds n_trials."""
    client = MlflowClient()
    written = _log_figures(client, run_id, study, config)
    counts = counts_by_state(study)
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        client.log_metric(run_id, f"trials_{state.lower()}", float(counts.get(state, 0)))
    best = best_completed_trial(study)
    if best is not None and best.value is not None:
        client.log_metric(run_id, f"best_{config.study.metric}", float(best.value))
        client.set_tag(run_id, "best_trial", str(best.number))
        client.set_tag(run_id, "best_trial_run_id", str(best.user_attrs.get("mlflow_run_id")))
        if "test_accuracy" in best.user_attrs:
            client.log_metric(run_id, "best_test_accuracy", float(best.user_attrs["test_accuracy"]))
    done = counted_trials(study) >= config.study.n_trials
    client.update_run(run_id, status="FINISHED" if done else "RUNNING")
    return written


def figure_params(study: optuna.Study, config: StudyConfig) -> list[str]:
    """The layer counts (params other params are per-layer of) and epochs, where searched."""
    sampled = {
        name for t in study.get_trials(deepcopy=False, states=COUNTED_STATES) for name in t.params
    }
    counts = {p.per_layer for p in config.search_space.params if p.per_layer}
    return [p for p in (*sorted(c for c in counts if c), "epochs") if p in sampled]


def _figures(study: optuna.Study, config: StudyConfig) -> dict[str, Callable[[], Any]]:
    params = figure_params(study, config)
    name = config.study.metric
    figures: dict[str, Callable[[], Any]] = {
        "optimization_history": lambda: optuna_plots.plot_optimization_history(
            study, target_name=name
        ),
        "param_importances": lambda: optuna_plots.plot_param_importances(study),
        "intermediate_values": lambda: optuna_plots.plot_intermediate_values(study),
    }
    if params:
        figures["slice_layers_epochs"] = lambda: optuna_plots.plot_slice(
            study, params=params, target_name=name
        )
    if len(params) >= 2:
        figures["contour_layers_epochs"] = lambda: optuna_plots.plot_contour(
            study, params=params, target_name=name
        )
    return figures


def _log_figures(
    client: MlflowClient, run_id: str, study: optuna.Study, config: StudyConfig
) -> list[str]:
    written, skipped = [], []
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for name, draw in _figures(study, config).items():
        if not complete:
            skipped.append(f"{name}: no complete trial yet")
            continue
        verbosity = optuna.logging.get_verbosity()
        try:
            # Optuna marks its matplotlib plots experimental, and warns of params with one
            # value so far; neither is news to the user at the end of a study.
            optuna.logging.set_verbosity(optuna.logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw()
        # A figure Optuna cannot draw for this study (e.g. importances of a single trial)
        # is noted on the run; it must never fail the study.
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            skipped.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        finally:
            optuna.logging.set_verbosity(verbosity)
        fig = (axes.flat[0] if isinstance(axes, np.ndarray) else axes).figure
        fig.set_size_inches(max(fig.get_size_inches()[0], 8), max(fig.get_size_inches()[1], 6))
        client.log_figure(run_id, fig, f"study/{name}.png")
        plt.close(fig)
        written.append(f"study/{name}.png")
    note = "\n".join(skipped) or "all figures drawn"
    client.log_text(run_id, note + "\n", "study/figures_skipped.txt")
    return written
