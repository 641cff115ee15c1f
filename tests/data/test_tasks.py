"""One tiny study and export per task, from data the tests write (or Debian's Fashion-MNIST)."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from tuner.app import export, join_study, run_study

from ..conftest import TINY_CNN
from ..datafiles import (
    FASHION_DIR,
    FASHION_MISSING,
    write_cifar_folder,
    write_digits_folder,
)

pytestmark = pytest.mark.slow  # a study and export per task; the command runs in a subprocess


def study_and_export(cfg) -> tuple[list[list[str]], float | None]:
    run_study(cfg)
    assert [t.state.name for t in join_study(cfg).trials] == ["COMPLETE"]
    sub = export(cfg)
    rows = list(csv.reader(open(sub.path)))
    assert rows[0] == ["filename", "label"] and len(rows) - 1 == sub.rows
    assert {int(r[1]) for r in rows[1:]} <= set(range(10))
    return rows[1:], sub.test_accuracy


def test_digits_folder_study_exports_test_csv_filenames(make_cfg, tmp_path):
    root = write_digits_folder(tmp_path / "identify-the-digits")
    cfg = make_cfg("+experiment=digits_cnn", "data.source=folder", f"data.path={root}", "data.max_samples=null",
                   "search.n_trials=1", "++search.space.preprocess=center", *TINY_CNN)
    rows, accuracy = study_and_export(cfg)
    test_csv = (root / "test.csv").read_text().split()[1:]
    assert [r[0] for r in rows] == test_csv and accuracy is None  # test.csv has no labels


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=FASHION_MISSING)
def test_fashion_study_exports_the_official_test_split(make_cfg):
    cfg = make_cfg("+experiment=fashion_mlp", "search.n_trials=1")
    rows, accuracy = study_and_export(cfg)
    assert len(rows) == 10_000 and rows[0][0] == "fashion-test-00000" and rows[-1][0] == "fashion-test-09999"
    assert accuracy is not None and accuracy > 0.15  # 340 images, one epoch: above chance (0.1 ± 0.003)


def test_cifar_study_with_augmentation_exports_stable_ids(make_cfg, tmp_path):
    root = write_cifar_folder(tmp_path / "cifar-10-batches-py", n_per_batch=40)
    cfg = make_cfg("+experiment=cifar_cnn", f"data.path={root}", "data.max_samples=null", "search.n_trials=1",
                   "search.space.augment_flip=true", "search.space.augment_shift=0.1", *TINY_CNN)
    rows, accuracy = study_and_export(cfg)
    assert [r[0] for r in rows] == [f"cifar10-test-{i:05d}" for i in range(40)]
    assert accuracy is not None and 0.0 <= accuracy <= 1.0
    hp = join_study(cfg).trials[0].user_attrs["hparams"]
    assert hp["augment_flip"] is True and np.isclose(hp["augment_shift"], 0.1)


def test_cli_without_cifar_data_exits_2_saying_where_to_put_it(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tuner", "+experiment=cifar_cnn"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert f"{tmp_path / 'cifar-10-batches-py'} (data.path): no such folder" in out
    assert "cifar-10-python.tar.gz" in out and "data.source=keras" in out
    assert not (tmp_path / "mlflow.db").exists()  # stopped before any tracking
