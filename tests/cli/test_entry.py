"""The wrapper every command runs under: exit codes, and no password in what it logs."""

from __future__ import annotations

import logging

import pytest

from tuner.cli.entry import EXIT_BUG, EXIT_ERROR, guarded
from tuner.errors import ConfigError


def fail(err: Exception) -> None:
    raise err


@pytest.mark.parametrize(("err", "code"), [
    (ConfigError("search.storage=postgresql://u:pw-config@h/db cannot be opened"), EXIT_ERROR),
    (RuntimeError("a bug while talking to http://u:pw-bug@h:5000"), EXIT_BUG),
])
def test_errors_exit_with_their_code_and_log_no_password(err, code, caplog):
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as exited:
        guarded(lambda: fail(err))
    assert exited.value.code == code
    text = caplog.text
    assert "pw-" not in text and "://u:***@h" in text
    assert ("Traceback" in text) == (code == EXIT_BUG)
