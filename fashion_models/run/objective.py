"""One trial: suggest params -> train and log (training_run.py) with pruning -> record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import optuna
from optuna_integration.keras import KerasPruningCallback

from fashion_models.config.components import REPLICATE, pareto_pruning
from fashion_models.errors import TrialError
from fashion_models.run.pareto_callback import ParetoPruningCallback
from fashion_models.run.recovery import record_interruption
from fashion_models.run.session import StudySession
from fashion_models.run.training_run import servable_model, train_and_log
from fashion_models.search.queries import (
    ARCHITECTURE,
    COSTS_OF,
    DUPLICATE_OF,
    OVER_BUDGET,
    costs_measured_for,
    duplicate_of,
)
from fashion_models.search.signals import interruptible, raise_if_interrupted
from fashion_models.serving.costs import architecture_digest, budget_reason, constraints, measure
from fashion_models.track import reports
from fashion_models.track.lineage import git_commit
from fashion_models.track.trial_run import EpochMetrics, TrialRun
from fashion_models.train.precision import resolved_params


class TrialFailed(TrialError):
    """This trial failed for a reason of its own; the reason is stored on the trial."""


@dataclass(frozen=True)
class Objective:
    """Callable Optuna objective over a session (data loaded once per worker)."""

    session: StudySession
    echo: Callable[[str], None] = print  # long trials show their epochs here

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        try:
            with interruptible():  # SIGINT / SIGTERM stop the trial here, where it is recorded
                return self._trial(trial)
        except KeyboardInterrupt as exc:
            record_interruption(trial, exc, self.session.config.tracking.experiment)
            raise

    def _trial(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        config, session = self.session.config, self.session
        params = resolved_params(config.search_space.suggest(trial))
        seed = config.study.seed + trial.number
        if config.study.repeats > 1:
            # The grid's replicate dimension: seed r of a grid point is study.seed + r, so the
            # runs of different grid points with the same r pair up in a comparison.
            replicate = trial.suggest_int(REPLICATE, 0, config.study.repeats - 1)
            params[REPLICATE], seed = replicate, config.study.seed + replicate
        if config.sampler.type == "grid":
            earlier = duplicate_of(trial.study, trial)
            if earlier is not None:  # nothing to learn from training the same model again
                trial.set_user_attr(DUPLICATE_OF, earlier)
                raise optuna.TrialPruned(f"the configuration of trial {earlier}")
        trial.set_user_attr("seed", seed)
        # The code that trained it, on the trial itself: a report read from a study continued
        # in another checkout (another tracking store) still knows.
        trial.set_user_attr("git_commit", git_commit())
        with session.training_run(trial.number, seed, params) as run:
            trial.set_user_attr("mlflow_run_id", run.run_id)
            epochs = EpochMetrics()
            try:
                costs = self._check_costs(trial, run, params)  # over the budget: ends here
                value = self._train(trial, run, params, seed, epochs, costs)
            except optuna.TrialPruned:
                if OVER_BUDGET not in trial.user_attrs:
                    trial.set_user_attr("pruned_at_epoch", epochs.last_epoch)
                    run.mark("PRUNED", pruned_at_epoch=epochs.last_epoch)
                    reports.log_pruned(epochs.last_epoch, epochs.history)
                raise
            except Exception as exc:  # noqa: BLE001
                raise_if_interrupted()  # a signal's Interrupted that a library turned into exc
                # A trial error fails this trial alone: the expected ones (ArchitectureError,
                # NonFiniteLossError, running out of memory) and any other (a passing MLflow
                # error); workers.max_consecutive_failures stops a study that fails throughout.
                reason = f"{type(exc).__name__}: {exc}"
                trial.set_user_attr("fail_reason", reason)
                run.mark("FAIL", fail_reason=reason)
                raise TrialFailed(reason) from exc
            run.mark("COMPLETE")
            if config.study.multi_objective:  # the metric, then the costs it minimizes
                return (value, *(costs[name] for name in config.study.cost_objectives))
            return value

    def _pruning(self, trial: optuna.Trial, costs: dict[str, float]) -> keras.callbacks.Callback:
        """Optuna's pruner through its Keras callback; a multi-objective study, where Optuna
        prunes nothing, keeps its per-epoch metric and prunes itself (pruner: pareto)."""
        config = self.session.config
        if config.study.multi_objective:
            return ParetoPruningCallback(trial, config, costs, pareto_pruning(config))
        return KerasPruningCallback(trial, monitor=config.study.metric)

    def _check_costs(
        self, trial: optuna.Trial, run: TrialRun, params: dict[str, object]
    ) -> dict[str, float]:
        """Measure what the model costs to serve, on the trial and its run; with a budget,
        tell the sampler how far over or under each maximum it is (Optuna's constraints: a
        value <= 0 is within), and end a model over the budget here, untrained. A network an
        earlier trial measured (the same digest) takes that trial's costs (`costs_of`)."""
        config = self.session.config
        model = servable_model(config.search_space.model_of(params), params)
        digest = architecture_digest(model)
        earlier = costs_measured_for(trial.study, digest, trial.number)
        if earlier is None:
            measured = measure(model).as_dict()
        else:
            source, measured = earlier
            trial.set_user_attr(COSTS_OF, source)
        run.log_final(measured)
        for name, value in measured.items():
            trial.set_user_attr(name, value)
        trial.set_user_attr(ARCHITECTURE, digest)  # last: the costs are on the trial by now
        for name, value in constraints(measured, config.budget).items():
            trial.set_constraint(name, value)
        reason = budget_reason(measured, config.budget)
        if reason:
            trial.set_user_attr(OVER_BUDGET, reason)
            run.mark("PRUNED", over_budget=reason)
            raise optuna.TrialPruned(reason)
        return measured

    def _train(
        self,
        trial: optuna.Trial,
        run: TrialRun,
        params: dict[str, object],
        seed: int,
        epochs: EpochMetrics,
        costs: dict[str, float],
    ) -> float:
        config, splits = self.session.config, self.session.splits
        assert splits is not None, "a session that runs trials holds its splits"
        metric = config.study.metric
        designed = config.design is not None
        trained = train_and_log(
            run, config.search_space.model_of(params), params, seed, splits,
            epoch_metrics=epochs,
            callbacks=[self._pruning(trial, costs)],
            test_each_epoch=designed,
            progress=self.echo,
            label=f"trial {trial.number}",
            inputs=self.session.datasets,
        )  # fmt: skip
        history = trained.fit.history
        if designed:  # every epoch's numbers, for the designed experiment's report
            trial.set_user_attr("history", history)
        run.log_final(
            {
                "final_val_accuracy": float(history["val_accuracy"][-1]),
                "final_val_loss": float(history["val_loss"][-1]),
            }
        )
        trial.set_user_attr("test_accuracy", trained.test.accuracy)
        trial.set_user_attr("param_count", trained.param_count)
        trial.set_user_attr("mlflow_model_uri", trained.model_uri)
        return float(history[metric][-1])
