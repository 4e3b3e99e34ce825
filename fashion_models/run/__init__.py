"""Running a study: the session a worker holds, the objective, the training routine shared
with the final retrain, worker processes, recovery, promotion. Joins search/, track/, train/."""
