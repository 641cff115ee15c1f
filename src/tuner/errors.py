"""The two kinds of failure, kept apart (KerasTuner's ``FatalError`` vs ``FailedTrialError``).

- ``TunerError`` and its subclasses stop the run: a bad config, missing data, a broken setup.
  Raised inside a trial, the trial is recorded FAIL and the run stops at once.
- ``TrialFailed`` skips one trial: the model itself could not be trained (NaN loss, out of
  memory, a layer combination Keras refuses). The trial is recorded FAIL and the search goes on.

Any other exception raised by tuner's own code is a bug: it stops the run with its traceback.
``disk_full`` tells an error of a full disk (an ``OSError`` ENOSPC, however wrapped) from the others.
"""

from __future__ import annotations

import errno


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


class DiskFull(TunerError):
    """Stop the run: a file that must be written (the study's journal) cannot be, its disk is full."""


# errno values of a full disk, and the words of errors that carry no errno (SQLite's SQLITE_FULL; TensorFlow's
# file writers, which reraise an OSError as their own error with its message)
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_WORDS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def disk_full(err: BaseException) -> str | None:
    """Whether ``err`` comes from a full disk, anywhere along its chain of causes (MLflow, SQLAlchemy, Keras and
    TensorFlow wrap the ``OSError``): None if not, else the path that could not be written, or ``""`` when no
    error of the chain names one.

    Example::

        try:
            open("/mnt/full/x", "w").write("0" * 2**20)
        except OSError as err:
            disk_full(err)  # '' (a write names no file), or '/mnt/full/x' for an open that failed
    """
    found, seen = False, set()
    todo: list[BaseException] = [err]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        full = (isinstance(e, OSError) and e.errno in FULL_ERRNOS) or any(w in str(e).lower() for w in FULL_WORDS)
        if full:
            found = True
            path = getattr(e, "filename", None) if isinstance(e, OSError) else None
            if path:
                return str(path)
        todo += [c for c in (e.__cause__, e.__context__, getattr(e, "orig", None)) if isinstance(c, BaseException)]
    return "" if found else None
