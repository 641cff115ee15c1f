"""The two kinds of failure: stop the run, or skip one trial."""

from __future__ import annotations


class TunerError(Exception):
    """Base of every error that tuner raises on purpose."""


class ConfigError(TunerError):
    """A bad config value: the run stops before any data is loaded or trained."""


class DataError(TunerError):
    """Missing or malformed data: the run stops before any training."""


class TrialFailed(TunerError):
    """This trial cannot go on (NaN loss, a bad combination): record FAIL, keep searching."""
