"""The Optuna side: storages, opening and joining a study, the claim lock, the trial loop,
signals, and the questions asked of a study. Knows nothing of MLflow or Keras."""
