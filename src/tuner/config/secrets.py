"""Secrets in URLs: masked wherever tuner writes text that others read (MLflow params, tags, descriptions,
artifacts, log lines), and dropped from the replay command, which must stay runnable without them.

Any URL counts, not only ``search.storage`` and ``tracking.uri``: a password in its userinfo
(``scheme://user:password@host``) and the value of a secret-looking query parameter (``?token=...``,
``&password=...``, ``&X-Amz-Signature=...``) are replaced by ``***``. Text outside URLs is left alone.

Example::

    hide_password("search.storage=postgresql://me:pw@db/x tracking.uri=http://h/?token=t")
    # 'search.storage=postgresql://me:***@db/x tracking.uri=http://h/?token=***'
    drop_password("postgresql://me:pw@db/x")  # 'postgresql://me@db/x': libpq reads PGPASSWORD or ~/.pgpass
"""

from __future__ import annotations

import logging
import re

MASK = "***"
# scheme://authority then the rest up to whitespace, a quote or a closing bracket
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`)\]}]*")
# the userinfo runs to the last "@" before the query: a password may hold an unencoded "/" or "@"
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)(?:(?P<userinfo>[^?#]*)@)?(?P<rest>.*)$", re.DOTALL)
# a query parameter whose name ends in one of these: password, access_token, X-Amz-Signature, client_secret, ...
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;][^=&;#]*?(?:password|passwd|pwd|token|secret|(?:api|access|private|secret)[_-]?key|apikey|"
    r"signature|sig|credential|auth)=)(?P<value>[^&;#]*)", re.IGNORECASE)


def hide_password(text: str) -> str:
    """``text`` with every URL's password and secret query values replaced by ``***``.

    Example::

        hide_password("postgresql://user:secret@host/db")  # 'postgresql://user:***@host/db'
    """
    return _URL.sub(lambda m: _mask_url(m.group(0), drop=False), text)


def drop_password(text: str) -> str:
    """``text`` with every URL's password removed (``scheme://user@host``) and secret query values masked.

    A URL written this way still opens the same database for whoever has the password where the driver
    looks for it (libpq: ``PGPASSWORD`` or ``~/.pgpass``; MySQL: ``~/.my.cnf``).
    """
    return _URL.sub(lambda m: _mask_url(m.group(0), drop=True), text)


def _mask_url(url: str, drop: bool) -> str:
    parts = _USERINFO.match(url)
    if parts is None:
        return url
    userinfo = parts["userinfo"]
    if userinfo is not None and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        userinfo = (user or None) if drop else f"{user}:{MASK}"
    rest = _SECRET_PARAM.sub(lambda m: m["key"] + (MASK if m["value"] else ""), parts["rest"])
    return parts["scheme"] + (f"{userinfo}@" if userinfo is not None else "") + rest


class HidePasswords(logging.Filter):
    """A log handler's filter that masks URL secrets in every record it writes, traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = hide_password(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = hide_password(record.exc_text)
        return True


def hide_passwords_in_logs(logger: logging.Logger | None = None) -> None:
    """Put ``HidePasswords`` on every handler of ``logger`` (the root logger by default), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, HidePasswords) for f in handler.filters):
            handler.addFilter(HidePasswords())
