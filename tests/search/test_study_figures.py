"""Tests for fashion_models.search.study_figures: the study's figures drawn from a real Optuna
study (in memory, a quick objective) on canvas.new_figure, each rendered to a PNG."""

from __future__ import annotations

import io

import optuna
import pytest
from matplotlib.figure import Figure

from fashion_models.search import study_figures


def _study(n_trials: int = 12) -> optuna.Study:
    """Layers and epochs searched, values reported per epoch, the worst pruned."""

    def objective(trial: optuna.Trial) -> float:
        layers = trial.suggest_int("conv_layers", 1, 4)
        epochs = trial.suggest_int("epochs", 1, 5)
        value = 0.0
        for step in range(epochs):
            value = 0.5 + 0.05 * layers + 0.02 * step + 0.001 * trial.number
            trial.report(value, step)
        if trial.number % 4 == 3:
            raise optuna.TrialPruned()
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=n_trials)
    return study


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def test_every_figure_of_a_searched_study_is_drawn_with_its_data() -> None:
    study = _study()
    figures = study_figures.study_figures(study, "val_accuracy", ["conv_layers"])
    assert list(figures) == [
        "optimization_history",
        "param_importances",
        "intermediate_values",
        "slice_layers_epochs",
        "contour_layers_epochs",
    ]
    drawn = {name: draw() for name, draw in figures.items()}
    for name, fig in drawn.items():
        assert _png(fig).startswith(b"\x89PNG"), name
    complete = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    history = drawn["optimization_history"].axes[0]
    assert len(history.collections[0].get_offsets()) == complete
    best_line = history.lines[0].get_ydata()
    assert best_line[-1] == pytest.approx(study.best_value)
    # One line per trial that reported, pruned ones included.
    assert len(drawn["intermediate_values"].axes[0].lines) == len(study.trials)
    bars = drawn["param_importances"].axes[0].patches
    assert len(bars) == 2  # conv_layers and epochs
    assert [ax.get_xlabel() for ax in drawn["slice_layers_epochs"].axes[:2]] == [
        "conv_layers",
        "epochs",
    ]


def test_a_study_without_a_complete_trial_has_no_history_yet() -> None:
    study = optuna.create_study()
    with pytest.raises(ValueError, match="no complete trial"):
        study_figures.optimization_history(study, "val_accuracy")
    with pytest.raises(ValueError, match="intermediate value"):
        study_figures.intermediate_values(study)


def test_points_on_one_line_still_make_a_contour_figure() -> None:
    study = optuna.create_study()
    for layers in (1, 2, 3):  # epochs the same throughout: no triangle spans the plane
        trial = study.ask()
        trial.suggest_int("conv_layers", 1, 3)
        trial.suggest_int("epochs", 2, 2)
        study.tell(trial, 0.1 * layers)
    fig = study_figures.contour_plot(study, ["conv_layers", "epochs"], "val_accuracy")
    assert _png(fig).startswith(b"\x89PNG")


def test_only_sampled_params_are_plotted() -> None:
    study = _study(4)
    assert study_figures.figure_params(study, ["conv_layers", "dense_layers"]) == [
        "conv_layers",
        "epochs",
    ]


def test_a_multi_objective_study_draws_its_front_and_its_kept_curves() -> None:
    from optuna.trial import TrialState, create_trial

    from fashion_models.search.pareto_pruning import INTERMEDIATE
    from fashion_models.search.queries import OVER_BUDGET

    study = optuna.create_study(directions=["maximize", "minimize"])
    rows = [(0.80, 1.0, "COMPLETE"), (0.85, 2.0, "COMPLETE"), (0.82, 3.0, "COMPLETE")]
    for accuracy, ms, state in rows:
        curve = {"0": accuracy - 0.1, "1": accuracy}
        study.add_trial(
            create_trial(
                state=TrialState[state],
                values=[accuracy, ms],
                user_attrs={INTERMEDIATE: curve, "serve_ms": ms},
            )
        )
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            user_attrs={INTERMEDIATE: {"0": 0.5}, "serve_ms": 2.5},
        )
    )
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            user_attrs={OVER_BUDGET: "over budget: serve_ms 9 > 4", "serve_ms": 9.0},
        )
    )
    figures = study_figures.study_figures(study, "val_accuracy", [], ["serve_ms"], {"serve_ms": 4})
    assert "pareto_front" in figures
    front = figures["pareto_front"]()
    assert _png(front).startswith(b"\x89PNG")
    ax = front.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "complete",
        "Pareto front",
        "over budget, not trained (1)",
        "budget serve_ms",
    ]
    # The front: trials 0 and 1 (trial 2 is slower than 1 and less accurate).
    assert sorted(map(tuple, ax.collections[1].get_offsets().tolist())) == [(1.0, 0.8), (2.0, 0.85)]
    # Every trial that kept a curve has its line, the pruned one included.
    assert len(figures["intermediate_values"]().axes[0].lines) == 4
