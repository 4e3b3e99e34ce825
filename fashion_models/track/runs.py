"""Whether a run id kept in a study's attrs still names a run to reuse: the one check behind
the study run and the final retrain."""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


def live_run(run_id: Any, client: MlflowClient | None = None) -> str | None:
    """`run_id` if it names a run of this tracking store that was not deleted; None for
    anything else (another tracking URI, a run deleted or purged in the UI, not an id)."""
    if not isinstance(run_id, str):
        return None
    try:
        run = (client or MlflowClient()).get_run(run_id)
    except MlflowException:
        return None
    return run_id if run.info.lifecycle_stage == "active" else None
