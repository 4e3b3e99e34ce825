"""The three kinds of failure. Every exception the package raises derives from one of them, so
the command line maps each kind to one exit code and one line, and a trial knows what it may
survive.

- UserError: the input is wrong (a study file, an argument, a missing study); exit 2, nothing
  written. The message names what was expected and what was found.
- TrialError: this trial cannot go on (a network that cannot be built, a NaN loss); the trial
  fails with its reason stored and the study goes on.
- FatalError: the study cannot go on (data missing or corrupt, a store unreachable, too many
  failed trials in a row); exit 1 with one line, and the trials so far are kept.
"""

from __future__ import annotations


class FashionModelsError(Exception):
    """Base of the three kinds; not raised itself."""


class UserError(FashionModelsError):
    """Bad input from the user: exit 2, nothing written."""


class TrialError(FashionModelsError):
    """One trial fails; its reason is stored on the trial and the study goes on."""


class FatalError(FashionModelsError):
    """The study (or command) stops; what was done so far is kept."""


class ArgumentError(UserError):
    """A command-line argument that names nothing usable (e.g. `--trial 99` of 10 trials)."""


class StudyNotFoundError(UserError):
    """A command that needs an existing study found none."""


class StoreError(FatalError):
    """An Optuna storage or MLflow tracking store cannot be opened or used."""
