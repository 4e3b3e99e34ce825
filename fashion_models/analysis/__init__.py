"""Reading a designed experiment: cells from runs, their statistics, the answer, the figures
and the report's text. Pure functions of numbers: no Optuna, no MLflow, no TensorFlow."""
