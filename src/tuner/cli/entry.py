"""The one wrapper every command runs under: a TunerError (a bad config, missing data) is logged as one
line and exits 2; Ctrl-C or SIGTERM exits 128 + the signal, saying how to resume. Anything else is a bug:
it propagates with its traceback. Every log line has its URLs' passwords masked.

Example::

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def main(cfg: DictConfig) -> None:
        print(guarded(lambda: app.leaderboard(cfg)))
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Callable, TypeVar

from tuner.config import hide_passwords_in_logs
from tuner.errors import TunerError

log = logging.getLogger("tuner")
T = TypeVar("T")
EXIT_ERROR = 2


def guarded(task: Callable[[], T]) -> T:
    """Run ``task``; a TunerError or an interrupt becomes a logged message and an exit code.

    Every log line (console and Hydra's log file) has its URLs' passwords masked from here on."""
    hide_passwords_in_logs()
    try:
        return task()
    except TunerError as err:
        log.error("%s", err)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt as err:
        log.error("interrupted (%s): the running trial is FAIL and its MLflow run KILLED; "
                  "rerun the same command to resume", err or "SIGINT")
        sys.exit(128 + getattr(err, "signum", signal.SIGINT))
