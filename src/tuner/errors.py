"""The two kinds of failure, kept apart (KerasTuner's ``FatalError`` vs ``FailedTrialError``).

- ``TunerError`` and its subclasses stop the run: a bad config, missing data, a broken setup.
  Raised inside a trial, the trial is recorded FAIL and the run stops at once.
- ``TrialFailed`` skips one trial: the model itself could not be trained (NaN loss, out of
  memory, a layer combination Keras refuses). The trial is recorded FAIL and the search goes on.

Any other exception raised by tuner's own code is a bug: it stops the run with its traceback.
"""

from __future__ import annotations


class TunerError(Exception):
    """Stop the run: the base of every error that tuner raises on purpose to end it."""


class ConfigError(TunerError):
    """A bad config value: the run stops before any data is loaded or trained."""


class DataError(TunerError):
    """Missing or malformed data: the run stops before any training."""


class TrialFailed(Exception):
    """Skip this trial (NaN loss, out of memory, a bad combination): record FAIL, keep searching.

    Not a TunerError: catching the errors that stop a run never catches this one.
    """
