"""Every shipped experiment composes, validates and runs one tiny trial, so none can rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.app import join_study, run_study

from ..conftest import ROOT, TINY_CNN
from ..datafiles import FASHION_DIR, FASHION_MISSING, write_cifar_folder
from ..imagefolders import write_class_folders

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def test_the_contract_experiments_exist():
    assert {"digits_mlp", "digits_cnn", "digits_mlp_vs_cnn", "fashion_mlp", "fashion_cnn", "cifar_mlp", "cifar_cnn",
            "images_mlp", "images_cnn", "digits_tutorial"} <= set(EXPERIMENTS)


def task_data(name: str, folder: Path) -> list[str]:
    """CIFAR-10 ships with no data: synthetic batches; images: class folders written here; Fashion-MNIST is
    Debian's package."""
    if name.startswith("images"):
        return [f"data.path={write_class_folders(folder / 'photos', per_class=20, test='unlabelled')}"]
    if name.startswith("cifar"):
        return [f"data.path={write_cifar_folder(folder / 'cifar-10-batches-py', n_per_batch=100)}"]
    if name.startswith("fashion") and not FASHION_DIR.is_dir():
        pytest.skip(FASHION_MISSING)
    return []


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_one_tiny_trial(name, make_cfg, tmp_path):
    cfg = make_cfg(f"+experiment={name}", "search.n_trials=1", "search.enqueue=[]", *TINY_CNN,
                   *task_data(name, tmp_path))
    assert cfg.name == name, "an experiment's name must match its file name"
    run_study(cfg)
    assert [t.state.name for t in join_study(cfg).trials] == ["COMPLETE"]
    assert Path(cfg.experiments_dir, name, "leaderboard.csv").exists()
