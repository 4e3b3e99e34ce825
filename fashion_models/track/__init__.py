"""The MLflow side: the experiment, one run per trial, the study run and its figures, reports,
lineage, store locks, and the model registry with its promotion rule."""
