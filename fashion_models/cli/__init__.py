"""`optuna-run`: click commands only (argument parsing, exit codes, printing).

Exit codes: 0 done; 1 fatal error (data, storage, too many failures); 2 bad input (one
message, nothing written); 130 / 143 interrupted.
"""

from __future__ import annotations

import os

# Before anything imports TensorFlow, in this process and in the workers it starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# MLflow's download progress bars and INFO lines would drown the per-trial lines.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
# gRPC's C++ core logs a failed bind itself; storage-proxy says it in one line instead.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from fashion_models.cli.app import main  # noqa: E402
from fashion_models.cli.quiet_start import quiet_tensorflow_start  # noqa: E402

__all__ = ["entry_point", "main"]


def entry_point() -> None:
    """`optuna-run`: keep TensorFlow's start-up noise off stderr, then run the command. (Not
    at import: tests drive `main` in-process, where stderr belongs to pytest.)"""
    quiet_tensorflow_start()
    main()
