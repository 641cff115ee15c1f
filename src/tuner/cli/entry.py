"""The one wrapper every command runs under: a TunerError (a bad config, missing data) is logged as one
line and exits 2, and so does a full disk (an ``OSError`` ENOSPC, however wrapped); Ctrl-C or SIGTERM exits 128 + the signal, saying how to resume. Anything else is a bug:
its traceback is logged and it exits 1. Every log line has its URLs' passwords masked (so is the traceback;
Hydra, left to report a bug itself, would print the command line's overrides as typed, passwords and all).

Example::

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def main(cfg: DictConfig) -> None:
        print(guarded(lambda: app.leaderboard(cfg)))
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
from typing import Callable, TypeVar

from tuner.config import hide_passwords_in_logs
from tuner.errors import TunerError, disk_full

log = logging.getLogger("tuner")
T = TypeVar("T")
EXIT_ERROR, EXIT_BUG = 2, 1


def quiet_full_log_files() -> None:
    """A log file (Hydra's, in the invocation's folder) on a full disk drops its lines instead of printing a
    traceback for each one; the console still shows them."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handleError = functools.partial(_drop_if_full, handler)  # type: ignore[method-assign]


def _drop_if_full(handler: logging.Handler, record: logging.LogRecord) -> None:
    err = sys.exc_info()[1]
    if err is None or disk_full(err) is None:
        logging.Handler.handleError(handler, record)


def guarded(task: Callable[[], T]) -> T:
    """Run ``task``; a TunerError or an interrupt becomes a logged message and an exit code.

    Every log line (console and Hydra's log file) has its URLs' passwords masked from here on."""
    hide_passwords_in_logs()
    quiet_full_log_files()
    try:
        return task()
    except TunerError as err:
        log.error("%s", err)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt as err:
        log.error("interrupted (%s): the running trial is FAIL and its MLflow run KILLED; "
                  "rerun the same command to resume", err or "SIGINT")
        sys.exit(128 + getattr(err, "signum", signal.SIGINT))
    except Exception as err:  # noqa: BLE001 - a bug: its traceback goes to the log, masked, and the exit code says so
        full = disk_full(err)
        if full is not None:
            log.error("disk full: %s (%s): free space on that disk, then rerun the same command "
                      "(what it had finished is kept)", full or "a file could not be written", err)
            sys.exit(EXIT_ERROR)
        log.exception("an error in tuner's own code stopped the command (please report it)")
        sys.exit(EXIT_BUG)
