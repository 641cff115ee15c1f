"""Telling a full disk from other errors, however the libraries wrap it (``tuner.errors.disk_full``)."""

from __future__ import annotations

import errno
import sqlite3

import optuna
import pytest
from mlflow.exceptions import MlflowException

from tuner.errors import disk_full
from tuner.study.storage import JournalFile


def enospc() -> OSError:
    """A real ENOSPC: /dev/full refuses every write."""
    with open("/dev/full", "wb", buffering=0) as f:
        try:
            f.write(b"x")
        except OSError as err:
            return err
    raise AssertionError("/dev/full took a write")


def test_a_write_to_a_full_device_is_a_full_disk_without_a_path():
    err = enospc()
    assert err.errno == errno.ENOSPC and disk_full(err) == ""


def test_the_path_comes_from_the_first_error_of_the_chain_that_names_one():
    assert disk_full(OSError(errno.ENOSPC, "No space left on device", "/mnt/full/model.keras")) == "/mnt/full/model.keras"
    try:
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded", "/home/me/mlruns/1/a")
        except OSError as inner:
            raise MlflowException("could not log the artifact") from inner
    except MlflowException as outer:
        assert disk_full(outer) == "/home/me/mlruns/1/a"


def test_a_wrapped_or_reworded_full_disk_is_found_through_cause_context_and_orig():
    try:
        try:
            raise enospc()
        except OSError:
            raise RuntimeError("saving the model failed")  # the implicit context is what is tested
    except RuntimeError as err:
        assert disk_full(err) == ""
    sqlalchemy_like = Exception("(sqlite3.OperationalError) ...")
    sqlalchemy_like.orig = sqlite3.OperationalError("database or disk is full")  # type: ignore[attr-defined]
    assert disk_full(MlflowException("store error")) is None
    wrapped = MlflowException("store error")
    wrapped.__cause__ = sqlalchemy_like
    assert disk_full(wrapped) == ""
    assert disk_full(RuntimeError("ResourceExhausted: /tmp/x; No space left on device")) == ""


@pytest.mark.parametrize("err", [OSError(errno.EACCES, "Permission denied", "/x"), ValueError("bad"),
                                 MemoryError(), KeyError("No space")])
def test_other_errors_are_not_a_full_disk(err):
    assert disk_full(err) is None


def test_a_chain_that_loops_ends():
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert disk_full(a) is None


def test_the_journal_file_reads_back_what_it_appends_as_optunas_own_does(tmp_path):
    path = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="s", storage=optuna.storages.JournalStorage(JournalFile(path)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    again = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(path)))
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    assert [t.state.name for t in again.trials] == ["COMPLETE"] * 3
