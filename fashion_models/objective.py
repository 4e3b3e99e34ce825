"""One trial: suggest params -> build the Keras model -> train with pruning -> track."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import optuna
from optuna_integration.keras import KerasPruningCallback

from fashion_models import architecture, reports
from fashion_models.config import StudyConfig
from fashion_models.data import CLASS_NAMES, Splits
from fashion_models.lineage import lineage_tags
from fashion_models.model import build
from fashion_models.study_run import PARENT_TAG, ensure_study_run
from fashion_models.tracking import EpochMetrics, TrialRun
from fashion_models.training import evaluate, fit
from fashion_models.workers import device_tags


class TrialFailed(Exception):
    """This trial failed for a reason of its own; the reason is stored on the trial."""


@dataclass
class Objective:
    """Callable Optuna objective; holds the data so that it is loaded once per worker."""

    config: StudyConfig
    splits: Splits
    experiment_id: str
    _parent: str | None = None  # the study run's id, looked up at the first trial

    def __call__(self, trial: optuna.Trial) -> float:
        params = self.config.search_space.suggest(trial)
        seed = self.config.study.seed + trial.number
        trial.set_user_attr("seed", seed)
        # Nested under the study run; lineage says which code, data and machine made it.
        if self._parent is None:
            self._parent = ensure_study_run(trial.study, self.experiment_id, self.config)
        tags = {"seed": str(seed), PARENT_TAG: self._parent, **lineage_tags(), **device_tags()}
        with TrialRun(self.experiment_id, self.config.study.name, trial.number, tags) as run:
            trial.set_user_attr("mlflow_run_id", run.run_id)
            run.log_params({"model": self.config.search_space.model, **params})
            epochs_seen, recorder = EpochMetrics(), reports.HistoryRecorder()
            try:
                value = self._train(trial, run, params, seed, [epochs_seen, recorder])
            except optuna.TrialPruned:
                trial.set_user_attr("pruned_at_epoch", epochs_seen.last_epoch)
                run.mark("PRUNED", pruned_at_epoch=epochs_seen.last_epoch)
                reports.log_pruned(epochs_seen.last_epoch, recorder.history)
                raise
            except Exception as exc:  # noqa: BLE001
                # A trial error fails this trial alone: the expected ones (ArchitectureError,
                # NonFiniteLossError, running out of memory) and any other (a passing MLflow
                # error); workers.max_consecutive_failures stops a study that fails throughout.
                reason = f"{type(exc).__name__}: {exc}"
                trial.set_user_attr("fail_reason", reason)
                run.mark("FAIL", fail_reason=reason)
                raise TrialFailed(reason) from exc
            run.mark("COMPLETE")
            return value

    def _train(
        self,
        trial: optuna.Trial,
        run: TrialRun,
        params: dict[str, object],
        seed: int,
        recorders: list[keras.callbacks.Callback],
    ) -> float:
        keras.backend.clear_session()
        # clear_session resets Keras' globals; progress bars (MLflow's signature check calls
        # predict) would drown the per-trial lines.
        keras.config.disable_interactive_logging()
        keras.utils.set_random_seed(seed)
        model = build(self.config.search_space.model, params)
        reports.log_model_summary(model)
        s, metric = self.splits, self.config.study.metric
        epochs = int(params.get("epochs", architecture.DEFAULTS["epochs"]))  # type: ignore[call-overload]
        batch_size = int(params.get("batch_size", architecture.DEFAULTS["batch_size"]))  # type: ignore[call-overload]
        result = fit(
            model, s.x_train, s.y_train, s.x_val, s.y_val,
            epochs=epochs,
            batch_size=batch_size,
            # Metrics first, so the epoch that triggers pruning is still logged.
            callbacks=[*recorders, KerasPruningCallback(trial, monitor=metric)],
        )  # fmt: skip
        value = float(result.history[metric][-1])
        test = evaluate(model, s.x_test, s.y_test)
        final = {
            "final_val_accuracy": float(result.history["val_accuracy"][-1]),
            "final_val_loss": float(result.history["val_loss"][-1]),
            "test_accuracy": test.accuracy,
            "test_loss": test.loss,
        }
        run.log_final(final)
        run.log_confusion_matrix(s.y_test, test.y_pred, CLASS_NAMES)
        reports.log_test_reports(s.x_test, s.y_test, test.y_pred)
        reports.log_curves(result.history)
        trial.set_user_attr("test_accuracy", test.accuracy)
        trial.set_user_attr("param_count", int(model.count_params()))
        trial.set_user_attr("mlflow_model_uri", run.log_model(model, s.x_val[:5]))
        return value
