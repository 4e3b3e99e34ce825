"""Running a study on a cluster: the commands a cluster runs (the same argv on every
scheduler), a Slurm submit script and plain Kubernetes manifests, rendered as text.

Renders only: submits nothing, imports no TensorFlow or Optuna; reads config/ for the rules on
store URIs.
"""
