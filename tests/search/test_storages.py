"""Tests for fashion_models.search.storages: the Optuna storage a study writes, read by a real
`optuna-dashboard` (the session's finished study)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.search.study import load_existing_study
from fashion_models.spec.config import load_config
from tests.helpers import BIN, free_port, get_json, serving

pytestmark = pytest.mark.slow


def test_optuna_dashboard_serves_the_study(finished: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    storage = f"sqlite:///{finished.parent}/store/optuna.db"
    command = [str(BIN / "optuna-dashboard"), storage, "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, f"{url}/api/meta", tmp_path / "dashboard.log"):
        studies = get_json(f"{url}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        detail = get_json(f"{url}/api/studies/{studies[0]['study_id']}")
        assert [t["state"] for t in detail["trials"]] == ["Complete"] * 3
        study = load_existing_study(load_config(finished, env={}))
        assert detail["best_trials"][0]["number"] == study.best_trial.number
