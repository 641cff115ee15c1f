"""Where a study lives: a journal file under ``experiments/<name>/`` or an RDB URL, opened safely for
concurrent writers (Optuna's journal lock; a heartbeat on RDB storages).

Example::

    storage = storage_for(StudyRef("digits_cnn"))
    repair_journal(Path("experiments/digits_cnn/study.journal"))  # bytes cut off a torn last record
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from tuner.config import experiment_dir, hide_password
from tuner.errors import ConfigError, DiskFull, disk_full

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
# RDB storages beat every HEARTBEAT_S while a trial runs; a RUNNING trial silent for
# HEARTBEAT_GRACE_S (its worker died, on any machine) is failed by the next worker.
HEARTBEAT_S = 10
HEARTBEAT_GRACE_S = 30
SCHEMA_RACE_TRIES = 4
JOURNAL = "study.journal"
SPOOL = "spool"
StaleCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class StudyRef:
    """Which study, and where: the study ``name`` in ``storage`` (an RDB URL), or in its journal file
    ``<experiments_dir>/<name>/study.journal`` when ``storage`` is None."""

    name: str
    experiments_dir: str = "experiments"
    storage: str | None = None

    @property
    def folder(self) -> Path:
        """``experiments/<name>/``, created: the study's journal, leaderboard and submission."""
        return experiment_dir(self.experiments_dir, self.name)

    @property
    def spool(self) -> Path:
        """``experiments/<name>/spool/``: the MLflow calls kept while the tracking store did not answer."""
        return Path(self.experiments_dir) / self.name / SPOOL

    @property
    def journal(self) -> Path:
        return Path(self.experiments_dir) / self.name / JOURNAL

    def where(self) -> str:
        """Where the study lives, for messages (a URL's password masked)."""
        return hide_password(self.storage) if self.storage else str(self.journal)


def storage_for(ref: StudyRef, on_stale: StaleCallback | None = None) -> optuna.storages.BaseStorage:
    """The study storage: ``search.storage`` if given, else a journal file under ``experiments/<name>/``.

    Both are safe for concurrent writers (the journal through Optuna's lock file). RDB storages
    get a heartbeat, and ``on_stale`` is called for each trial whose worker stopped beating.
    """
    url = ref.storage
    if url is None:
        from optuna.storages.journal import JournalStorage

        path = ref.folder / JOURNAL
        repair_journal(path)
        return JournalStorage(JournalFile(str(path)))
    scheme = str(url).split(":", 1)[0].split("+", 1)[0]
    if scheme not in RDB_SCHEMES:
        raise ConfigError(
            f"search.storage={hide_password(url)}: unsupported URL; use {', '.join(s + '://...' for s in RDB_SCHEMES)}, "
            "or null for a journal file under experiments/<name>/"
        )
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(SCHEMA_RACE_TRIES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True},
                                                  heartbeat_interval=HEARTBEAT_S, grace_period=HEARTBEAT_GRACE_S,
                                                  heartbeat_stale_trial_callback=on_stale)
        except (IntegrityError, ProgrammingError) as err:
            # workers starting together on an empty database all create Optuna's tables; one wins
            if attempt == SCHEMA_RACE_TRIES - 1:
                raise _unusable(url, err) from err
            time.sleep(1.0 + attempt)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many types for a bad URL or server
            raise _unusable(url, err) from err
    raise AssertionError("unreachable")


class JournalFile(JournalFileBackend):
    """Optuna's journal file, appended as Optuna does (whole records, under its lock, synced to disk), but an
    append that fails is cut off again, so this process and the next run read whole records only; and one that
    finds the disk full raises ``DiskFull``, naming the file: the run stops with one message."""

    def __init__(self, file_path: str) -> None:
        self.path, self.lock = file_path, JournalFileSymlinkLock(file_path)
        super().__init__(file_path, self.lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        try:
            self._append(data)
        except OSError as err:
            if disk_full(err) is None:
                raise
            raise DiskFull(f"disk full: cannot append to the study journal {self.path}; free space on its disk, "
                           "then rerun the same command to resume (finished trials are kept, the trial that was "
                           "running is recorded FAIL)") from err

    def _append(self, data: bytes) -> None:
        self.lock.acquire()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
        finally:
            self.lock.release()


def _unusable(url: str, err: Exception) -> ConfigError:
    return ConfigError(f"search.storage={hide_password(url)} cannot be opened: {type(err).__name__}: "
                       f"{hide_password(str(err)).splitlines()[0]}")


def repair_journal(path: Path) -> int:
    """Cut a torn last record (a writer killed mid-line) off a journal file; returns the bytes cut.

    Optuna skips a torn last line when reading, but the next record appended would be glued
    to it and the study could no longer be read. The cut bytes are kept in ``<path>.torn``.
    Done under the journal's own lock, so a record being written right now is left alone.
    """
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.exists() or path.stat().st_size == 0:
        return 0
    lock = JournalFileSymlinkLock(str(path))
    while not lock.acquire():
        time.sleep(0.01)
    try:
        raw = path.read_bytes()
        lines = raw.splitlines(keepends=True)
        keep = len(raw)
        while lines and not _complete_record(lines[-1]):
            keep -= len(lines.pop())
        bad = next((i for i, line in enumerate(lines) if not _complete_record(line)), None)
        if bad is not None:
            raise ConfigError(f"{path}: record {bad + 1} of {len(lines)} is corrupt, not just the last one; "
                              "restore the file from a backup, or delete it to start the study afresh")
        if keep < len(raw):
            with open(path.with_name(path.name + ".torn"), "ab") as torn:
                torn.write(raw[keep:] + b"\n")
            with open(path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())
        return len(raw) - keep
    finally:
        lock.release()


def _complete_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
