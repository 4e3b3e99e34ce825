"""fashion-models: Optuna studies of Keras classifiers on Fashion-MNIST, tracked in MLflow."""

from __future__ import annotations

__version__ = "0.1.0"
