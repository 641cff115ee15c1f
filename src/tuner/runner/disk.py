"""What a trial does about a full disk: save a model with its temporary files in a folder of their own, and name
the folder on the fullest disk when the ``OSError`` of a failed write names no file.

Example::

    with own_temp_folder():
        tracker.log_model(run_id, model, card)  # whatever a failed save leaves in TMPDIR goes with the folder
    full_folder("mlruns/1/abc/artifacts")  # '/tmp' or the artifacts folder, whichever disk has less space free
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SQLITE_FULL = "database or disk is full"  # SQLite's message for SQLITE_FULL, which names no file


@contextmanager
def own_temp_folder() -> Iterator[None]:
    """Temporary files in a folder of their own, removed after: a Keras save that fails leaves its temporary
    assets folder behind."""
    with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
        outer, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            yield
        finally:
            tempfile.tempdir = outer


def full_folder(*folders: str | None) -> str:
    """Of ``folders`` (the temporary folder always among them), the one whose disk has the least space free: the
    path a failed write names when its ``OSError`` names none."""
    def free(folder: str) -> int:
        path = Path(folder)
        while not path.exists() and path != path.parent:
            path = path.parent
        return shutil.disk_usage(path).free

    return min((f for f in (tempfile.gettempdir(), *folders) if f), key=free)


def sqlite_file(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` tracking URI; None for any other store.

    Example::

        sqlite_file("sqlite:///mlflow.db")  # 'mlflow.db'
    """
    prefix = "sqlite:///"
    return (uri[len(prefix):] or None) if uri.startswith(prefix) else None
