"""The path of one study, after its files are validated: session, trials, final, registry."""

from __future__ import annotations

from collections.abc import Callable

from fashion_models.run.final import final_candidate
from fashion_models.run.objective import Objective, TrialFailed
from fashion_models.run.promotion import register_study_model
from fashion_models.run.session import StudySession, open_session
from fashion_models.search.trial_loop import run_trials
from fashion_models.spec.secrets import mask_url
from fashion_models.spec.sections import StudyConfig
from fashion_models.track.registry import Promotion
from fashion_models.track.study_run import refresh_study_run


def run_study(
    config: StudyConfig, echo: Callable[[str], None] = print, register: bool = True
) -> tuple[StudySession, Promotion | None]:
    """Run (or continue) the study to n_trials, then register and maybe promote its best model
    (`register=False`: a worker of `--workers`, whose parent registers once at the end)."""
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


def finish_study(session: StudySession, echo: Callable[[str], None] = print) -> Promotion | None:
    """Redraw the study figures, retrain the best configuration if the file asks (`final:`),
    then register the study's model and apply the promotion rule."""
    refresh_study_run(session.study, session.config, session.study_run_id)
    final = final_candidate(session, echo) if session.config.final is not None else None
    return register_study_model(session.study, session.config, final)
