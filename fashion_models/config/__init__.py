"""What to run: study files, search spaces, the parameter vocabulary, samplers and pruners.

Reads YAML and checks it; imports no TensorFlow, so that `optuna-run validate` stays fast.
"""
