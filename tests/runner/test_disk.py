"""A trial's temporary files in a folder of their own; the folder a failed write is blamed on."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tuner.runner.disk import full_folder, own_temp_folder, sqlite_file


def test_what_a_failed_save_leaves_in_the_temporary_folder_goes_with_it():
    outer = tempfile.gettempdir()
    with pytest.raises(OSError, match="the save failed"):
        with own_temp_folder():
            left = Path(tempfile.mkdtemp()) / "assets"  # as a Keras save that fails leaves it
            left.mkdir()
            raise OSError(28, "the save failed")
    assert not left.exists() and left.parent.parent.name.startswith("tuner-model-")
    assert tempfile.gettempdir() == outer


def test_the_blamed_folder_is_one_of_those_given_even_one_not_made_yet(tmp_path):
    folder = str(tmp_path / "mlruns" / "1" / "abc" / "artifacts")
    assert full_folder(folder, None) in (tempfile.gettempdir(), folder)
    assert full_folder() == tempfile.gettempdir()


def test_the_database_file_of_a_sqlite_store():
    assert sqlite_file("sqlite:///mlflow.db") == "mlflow.db"
    assert sqlite_file("sqlite:////abs/mlflow.db") == "/abs/mlflow.db"
    assert sqlite_file("http://127.0.0.1:5000") is None and sqlite_file("sqlite:///") is None
