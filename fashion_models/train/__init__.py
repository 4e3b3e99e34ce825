"""Training: the data and its splits, Keras models, fit and evaluate, figures, devices.
Knows nothing of Optuna or MLflow."""
