"""bench/fashion_hour.py's scoring: the official IDX labels read directly, a submission CSV scored against them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from bench.fashion_hour import ensemble_curve, milestones, read_labels, score


def write_labels(path: Path, labels: list[int], magic: int = 0x801) -> Path:
    raw = magic.to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_submission(path: Path, labels: list[int]) -> Path:
    path.write_text("filename,label\n" + "".join(f"fashion-test-{i:05d},{v}\n" for i, v in enumerate(labels)))
    return path


@pytest.mark.parametrize("name", ["t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"])
def test_labels_come_from_the_idx_file(tmp_path: Path, name: str) -> None:
    assert read_labels(write_labels(tmp_path / name, [9, 0, 3, 3])).tolist() == [9, 0, 3, 3]


def test_a_file_that_is_not_an_idx_label_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an IDX label file"):
        read_labels(write_labels(tmp_path / "images.gz", [1, 2], magic=0x803))
    truncated = tmp_path / "short"
    truncated.write_bytes((0x801).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes([1, 2]))
    with pytest.raises(ValueError, match="not an IDX label file"):
        read_labels(truncated)


def test_score_is_the_share_of_rows_that_match_the_labels_in_order(tmp_path: Path) -> None:
    labels = np.array([9, 0, 3, 3, 7])
    assert score(write_submission(tmp_path / "a.csv", [9, 0, 3, 1, 7]), labels) == pytest.approx(0.8)
    assert score(write_submission(tmp_path / "b.csv", [0, 9, 3, 3, 7]), labels) == pytest.approx(0.6)
    assert score(write_submission(tmp_path / "c.csv", [9, 0, 3, 3, 7]), labels) == 1.0


def test_a_submission_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    labels = np.array([1, 2, 3])
    with pytest.raises(ValueError, match="2 rows for 3 test labels"):
        score(write_submission(tmp_path / "short.csv", [1, 2]), labels)
    bad = tmp_path / "header.csv"
    bad.write_text("id,label\na,1\nb,2\nc,3\n")
    with pytest.raises(ValueError, match="header"):
        score(bad, labels)
    twice = tmp_path / "twice.csv"
    twice.write_text("filename,label\na,1\na,2\nc,3\n")
    with pytest.raises(ValueError, match="duplicate"):
        score(twice, labels)


def test_milestones_are_the_first_times_the_best_passed_each_target() -> None:
    curve = [(600.0, 0.915), (60.0, 0.88), (1200.0, 0.931), (900.0, 0.925)]
    assert milestones(curve, (0.90, 0.92, 0.93, 0.94)) == {0.90: 600.0, 0.92: 900.0, 0.93: 1200.0, 0.94: None}


def test_the_ensemble_curve_averages_the_best_k_by_validation_not_by_completion() -> None:
    labels = np.array([0, 1])
    a = np.array([[0.6, 0.4], [0.6, 0.4]])      # val 0.9: right on the first image only
    a_mirror = np.array([[0.4, 0.6], [0.4, 0.6]])  # with its mirror averaged in: right on the second only
    b = np.array([[0.45, 0.55], [0.1, 0.9]])    # val 0.8: right on the second only, sure of it
    c = np.array([[0.0, 1.0], [1.0, 0.0]])      # val 0.7: wrong on both, sure of it
    models = [(1.0, 2, 0.7, c, c), (2.0, 0, 0.9, a, a_mirror), (3.0, 1, 0.8, b, b)]  # in completion order
    curve = ensemble_curve(models, labels)
    assert [k for k, _, _ in curve] == [1, 2, 3]
    assert [plain for _, plain, _ in curve] == [0.5, 1.0, 0.0]  # a; a+b right on both; c outvotes them
    assert [mirror for _, _, mirror in curve][:2] == [0.5, 0.5]  # a's mirror flips its answer
