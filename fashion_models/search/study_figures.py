"""The study-level figures, drawn from the study's trials as Optuna reports them.

Optuna's own matplotlib plots go through pyplot (process-wide state, a backend chosen at
import), so the same five figures are drawn here on ``canvas.new_figure``; the importances come
from Optuna's public `optuna.importance.get_param_importances`. Each function returns a
Figure, or raises ValueError when the study cannot make it yet (the caller notes why).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from fashion_models.canvas import new_figure
from fashion_models.search.pareto_pruning import INTERMEDIATE
from fashion_models.search.queries import (
    COUNTED_STATES,
    OVER_BUDGET,
    maximizes_metric,
    pareto_front,
)

StudyFigure = Callable[[optuna.Study], Figure]


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def optimization_history(study: optuna.Study, target_name: str) -> Figure:
    """Each complete trial's value by trial number, and the best value so far."""
    trials = _complete(study)
    if not trials:
        raise ValueError("no complete trial yet")
    numbers = [t.number for t in trials]
    values = np.array([float(t.values[0]) for t in trials if t.values is not None])
    best = (
        np.maximum.accumulate(values) if maximizes_metric(study) else np.minimum.accumulate(values)
    )
    fig = new_figure(8, 6)
    ax = fig.add_subplot()
    ax.scatter(numbers, values, s=20, label=target_name)
    ax.step(numbers, best, where="post", color="tab:red", label="best value")
    ax.set_xlabel("trial")
    ax.set_ylabel(target_name)
    ax.set_title("Optimization history")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def param_importances(study: optuna.Study) -> Figure:
    """Optuna's hyperparameter importances (fANOVA by default) as horizontal bars."""
    # A multi-objective study: on the metric (its first value), as a value to minimize
    # (Optuna's evaluator then reads it as it reads a one-objective study's direction).
    target = None
    if len(study.directions) > 1:
        sign = -1.0 if maximizes_metric(study) else 1.0
        target = lambda t: sign * float(t.values[0])  # noqa: E731
    importances = optuna.importance.get_param_importances(study, target=target)
    if not importances:
        raise ValueError("no param varies across the complete trials")
    names = list(importances)[::-1]  # the most important on top
    fig = new_figure(8, max(6, 0.35 * len(names) + 1.5))
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    for y, name in enumerate(names):
        ax.text(importances[name], y, f" {importances[name]:.2f}", va="center", fontsize=8)
    ax.set_xlabel("importance for the objective value")
    ax.set_title("Hyperparameter importances")
    return fig


def _curve(trial: FrozenTrial) -> dict[int, float]:
    """The trial's metric per step: its reports, or (a multi-objective study, where Optuna
    takes none) the per-epoch values it kept in its user attrs."""
    if trial.intermediate_values:
        return dict(trial.intermediate_values)
    kept = trial.user_attrs.get(INTERMEDIATE, {})
    return {int(step): float(value) for step, value in kept.items()}


def intermediate_values(study: optuna.Study) -> Figure:
    """The value each trial reported at each step (epoch): where the pruner stopped which."""
    curves = {t.number: _curve(t) for t in study.get_trials(deepcopy=False)}
    trials = [t for t in study.get_trials(deepcopy=False) if curves[t.number]]
    if not trials:
        raise ValueError("no trial has reported an intermediate value yet")
    fig = new_figure(8, 6)
    ax = fig.add_subplot()
    for trial in trials:
        curve = curves[trial.number]
        steps = sorted(curve)
        style = "-" if trial.state == TrialState.COMPLETE else ":"
        ax.plot(
            steps,
            [curve[s] for s in steps],
            style,
            marker="o",
            markersize=3,
            label=f"trial {trial.number} ({trial.state.name.lower()})",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("intermediate value")
    ax.set_title("Intermediate values")
    ax.grid(alpha=0.3)
    if len(trials) <= 20:
        ax.legend(fontsize=7)
    return fig


def slice_plot(study: optuna.Study, params: Sequence[str], target_name: str) -> Figure:
    """The value of each complete trial against each of `params`, one panel a param."""
    trials = _complete(study)
    if not trials:
        raise ValueError("no complete trial yet")
    fig = new_figure(max(8, 4 * len(params)), 6)
    for slot, name in enumerate(params):
        ax = fig.add_subplot(1, len(params), slot + 1)
        mine = [t for t in trials if name in t.params]
        points = ax.scatter(
            [t.params[name] for t in mine],
            [float(t.values[0]) for t in mine if t.values is not None],
            c=[t.number for t in mine],
            cmap="Blues",
            edgecolors="grey",
        )
        ax.set_xlabel(name)
        if slot == 0:
            ax.set_ylabel(target_name)
    fig.colorbar(points, ax=fig.axes, label="trial")
    fig.suptitle("Slice plot")
    return fig


def contour_plot(study: optuna.Study, params: Sequence[str], target_name: str) -> Figure:
    """The value over each pair of `params`: trials as points, filled contours between them
    where three or more distinct points span the plane."""
    trials = _complete(study)
    pairs = list(itertools.combinations(params, 2))
    if not trials or not pairs:
        raise ValueError("a contour needs a complete trial and two params")
    cols = min(len(pairs), 3)
    rows = math.ceil(len(pairs) / cols)
    fig = new_figure(max(8, 4.5 * cols), max(6, 4 * rows))
    for slot, (x_name, y_name) in enumerate(pairs):
        ax = fig.add_subplot(rows, cols, slot + 1)
        mine = [t for t in trials if x_name in t.params and y_name in t.params]
        x = np.array([float(t.params[x_name]) for t in mine])
        y = np.array([float(t.params[y_name]) for t in mine])
        z = np.array([float(t.values[0]) for t in mine if t.values is not None])
        if len({(a, b) for a, b in zip(x, y, strict=True)}) >= 3:
            # Points on one line make no triangles: then only the points show.
            with contextlib.suppress(ValueError, RuntimeError):
                ax.tricontourf(x, y, z, levels=12, cmap="Blues", alpha=0.6)
        points = ax.scatter(x, y, c=z, cmap="Blues", edgecolors="black")
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
    fig.colorbar(points, ax=fig.axes, label=target_name)
    fig.suptitle("Contour plot")
    return fig


def pareto_front_figure(
    study: optuna.Study,
    target_name: str,
    cost_names: Sequence[str],
    budget: Mapping[str, float],
) -> Figure:
    """A multi-objective study's trials, metric against each cost it minimizes (one panel a
    cost): complete trials, the Pareto front as a step line, and the infeasible draws (over
    the budget, never trained, so without a metric) as crosses under the axis at their cost,
    beside the budget's maximum."""
    trials = _complete(study)
    if not trials:
        raise ValueError("no complete trial yet")
    front = {t.number for t in pareto_front(study)}
    over = [t for t in study.get_trials(deepcopy=False) if OVER_BUDGET in t.user_attrs]
    fig = new_figure(max(8, 6 * len(cost_names)), 6)
    for slot, cost in enumerate(cost_names):
        ax = fig.add_subplot(1, len(cost_names), slot + 1)
        index = 1 + slot  # the cost's place in the trials' values
        x = np.array([float(t.values[index]) for t in trials])
        y = np.array([float(t.values[0]) for t in trials])
        on = np.array([t.number in front for t in trials])
        ax.scatter(x[~on], y[~on], s=24, color="tab:blue", alpha=0.6, label="complete")
        order = np.argsort(x[on])
        ax.step(x[on][order], y[on][order], where="post", color="tab:red", alpha=0.6)
        ax.scatter(x[on], y[on], s=40, color="tab:red", label="Pareto front")
        for t in trials:
            if t.number in front:
                ax.annotate(
                    str(t.number),
                    (float(t.values[index]), float(t.values[0])),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        if over:
            costs = [float(t.user_attrs[cost]) for t in over if cost in t.user_attrs]
            bottom = float(y.min()) - 0.05 * max(float(np.ptp(y)), 0.01)
            ax.scatter(
                costs,
                [bottom] * len(costs),
                marker="x",
                color="grey",
                label=f"over budget, not trained ({len(over)})",
            )
        if cost in budget:
            ax.axvline(budget[cost], color="grey", linestyle="--", label=f"budget {cost}")
        ax.set_xlabel(cost)
        ax.set_ylabel(target_name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Pareto front: {target_name} against {', '.join(cost_names)}")
    return fig


def figure_params(study: optuna.Study, layer_counts: Sequence[str]) -> list[str]:
    """The layer counts (params other params are per-layer of) and epochs, where sampled."""
    sampled = {
        name for t in study.get_trials(deepcopy=False, states=COUNTED_STATES) for name in t.params
    }
    return [p for p in (*sorted(layer_counts), "epochs") if p in sampled]


def study_figures(
    study: optuna.Study,
    target_name: str,
    layer_counts: Sequence[str],
    cost_names: Sequence[str] = (),
    budget: Mapping[str, float] | None = None,
) -> dict[str, Callable[[], Figure]]:
    """The study's figures by file name (without .png), each drawn when called; with
    `cost_names` (a multi-objective study) its Pareto front too."""
    params = figure_params(study, layer_counts)
    figures: dict[str, Callable[[], Figure]] = {
        "optimization_history": lambda: optimization_history(study, target_name),
        "param_importances": lambda: param_importances(study),
        "intermediate_values": lambda: intermediate_values(study),
    }
    if cost_names:
        figures["pareto_front"] = lambda: pareto_front_figure(
            study, target_name, cost_names, budget or {}
        )
    if params:
        figures["slice_layers_epochs"] = lambda: slice_plot(study, params, target_name)
    if len(params) >= 2:
        figures["contour_layers_epochs"] = lambda: contour_plot(study, params, target_name)
    return figures
