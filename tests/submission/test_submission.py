"""The submission CSV is checked before it is written and written atomically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuner.data import Dataset
from tuner.errors import DataError, DiskFull, TunerError
from tuner.submission.export import write_submission


def _data(ids: tuple[str, ...] = ("a.png", "b.png", "c.png"), n_classes: int = 10) -> Dataset:
    x = np.zeros((len(ids), 2, 2, 1), np.float32)
    y = np.zeros(len(ids), np.int64)
    return Dataset(x, y, x, y, x, None, ids, n_classes)


def test_valid_rows_are_written_in_test_order(tmp_path):
    path = tmp_path / "out/submission.csv"
    write_submission(path, _data(), np.array([3, 0, 9]))
    assert path.read_text() == "filename,label\na.png,3\nb.png,0\nc.png,9\n"
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]


def test_labels_are_written_by_class_name(tmp_path):
    x = np.zeros((3, 2, 2, 1), np.uint8)
    y = np.array([0, 1, 2])
    data = Dataset(x, y, x, y, x, None, ("a.jpg", "b.jpg", "c.jpg"), 3, ("cat", "dog", "owl"))
    path = tmp_path / "submission.csv"
    write_submission(path, data, np.array([2, 0, 0]))
    assert path.read_text() == "filename,label\na.jpg,owl\nb.jpg,cat\nc.jpg,cat\n"


def test_class_names_must_match_the_number_of_classes():
    x = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(DataError, match="2 class names for 3 classes"):
        Dataset(x, np.zeros(3, np.int64), x, np.zeros(3, np.int64), x, None, ("a", "b", "c"), 3, ("cat", "dog"))


@pytest.mark.parametrize("data,labels,message", [
    (_data(), np.array([1, 2]), "2 predictions for 3 test images"),
    (_data(("a.png", "a.png", "c.png")), np.array([1, 2, 3]), "duplicate filenames"),
    (_data(), np.array([1, 2, 10]), "outside the label set 0..9"),
    (_data(), np.array([1, -1, 2]), "outside the label set 0..9"),
    (_data(), np.array([1.0, 2.5, 3.0]), "outside the label set 0..9"),
])
def test_bad_rows_are_refused_and_the_previous_file_is_kept(tmp_path, data, labels, message):
    path = tmp_path / "submission.csv"
    path.write_text("filename,label\nold,1\n")
    with pytest.raises(TunerError, match=message):
        write_submission(path, data, labels)
    assert path.read_text() == "filename,label\nold,1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def test_a_crash_mid_write_leaves_no_half_csv(tmp_path, monkeypatch):
    path = tmp_path / "submission.csv"
    path.write_text("filename,label\nold,1\n")
    real = pd.DataFrame.to_csv

    def disk_full(self, out, **kwargs):  # half the rows reach the file, then the disk is full
        real(self.iloc[: len(self) // 2], out, **kwargs)
        out.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    with pytest.raises(DiskFull, match=r"disk full: cannot write .*submission.csv \(the previous submission.csv is "
                                       r"kept\); free space on its disk, then rerun the export"):
        write_submission(path, _data(tuple(f"{i}.png" for i in range(100))), np.arange(100) % 10)
    assert path.read_text() == "filename,label\nold,1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]

    monkeypatch.setattr(pd.DataFrame, "to_csv", real)
    write_submission(path, _data(tuple(f"{i}.png" for i in range(100))), np.arange(100) % 10)
    assert len(path.read_text().splitlines()) == 101
