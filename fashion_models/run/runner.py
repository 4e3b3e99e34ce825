"""The path of one study, after its files are validated: session, trials, final, registry."""

from __future__ import annotations

from collections.abc import Callable

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig
from fashion_models.errors import FatalError
from fashion_models.run.final import final_candidate
from fashion_models.run.objective import Objective, TrialFailed
from fashion_models.run.promotion import register_study_model
from fashion_models.run.session import StudySession, open_session
from fashion_models.search.queries import best_completed_trial, counted_trials
from fashion_models.search.trial_loop import run_trials
from fashion_models.track.registry import Promotion
from fashion_models.track.study_run import refresh_study_run


def run_study(
    config: StudyConfig, echo: Callable[[str], None] = print, register: bool = True
) -> tuple[StudySession, Promotion | None]:
    """Run (or continue) the study to n_trials, then register and maybe promote its best model
    (`register=False`: a worker of `--workers`, or of a scheduler's job array, whose study is
    finished once at the end by its parent or by `finish_existing`)."""
    session = open_session(config)
    assert session.splits is not None  # a session that runs trials holds its splits
    s = session.splits
    echo(
        f"study {config.study.name!r} on {mask_url(config.storage)}: "
        f"{len(s.y_train)} train / {len(s.y_val)} validation / {len(s.y_test)} test images"
    )
    run_trials(config, session.handle, Objective(session, echo), (TrialFailed,), echo)
    if not register:  # a worker of --workers: its parent finishes the study once
        return session, None
    return session, finish_study(session, echo)


def create_study(config: StudyConfig, echo: Callable[[str], None] = print) -> StudySession:
    """Create (or find) the stores, the study, its MLflow experiment and study run, and run no
    trial: a scheduler does this once before it starts N workers, so they only join."""
    session = open_session(config, runs_trials=False)
    echo(
        f"study {config.study.name!r} ready on {mask_url(config.storage)} "
        f"({counted_trials(session.study)}/{config.study.n_trials} trials); MLflow experiment "
        f"{config.tracking.experiment!r} at {mask_url(config.tracking.uri)}"
    )
    return session


def finish_existing(
    config: StudyConfig, echo: Callable[[str], None] = print
) -> tuple[StudySession, Promotion | None]:
    """Finish a study that workers ran elsewhere (a scheduler's last job): figures, final
    retrain, registry. It finishes with what the study holds; short of n_trials (a worker
    failed or was cancelled) it says so; with no complete trial there is nothing to ship."""
    session = open_session(config, runs_trials=False)
    counted, wanted = counted_trials(session.study), config.study.n_trials
    if best_completed_trial(session.study, config.registry.choose) is None:
        within = " within registry.choose" if config.registry.choose else ""
        raise FatalError(
            f"study {config.study.name!r} holds no complete trial{within} ({counted}/{wanted} "
            "trials): nothing to register; see the workers' logs"
        )
    if counted < wanted:
        echo(f"study {config.study.name!r} holds {counted} of {wanted} trials: finishing with them")
    return session, finish_study(session, echo)


def finish_study(session: StudySession, echo: Callable[[str], None] = print) -> Promotion | None:
    """Redraw the study figures, retrain the best configuration if the file asks (`final:`),
    then register the study's model and apply the promotion rule."""
    refresh_study_run(session.study, session.config, session.study_run_id)
    final = final_candidate(session, echo) if session.config.final is not None else None
    return register_study_model(session.study, session.config, final)
