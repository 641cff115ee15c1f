"""tuner as a user installs it: a built wheel in a fresh target, run from an empty folder that holds only the
user's own experiment, with the configs coming from inside the distribution."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..conftest import TINY

pytestmark = pytest.mark.slow  # builds a wheel and runs a study in subprocesses
ROOT = Path(__file__).resolve().parents[2]
USER_EXPERIMENT = """\
# @package _global_
defaults:
  - override /search/space: mlp
name: my_exp
search:
  n_trials: 1
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the project's source and installed (no dependencies) into a fresh target."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("src", "conf"):
        shutil.copytree(ROOT / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # nothing comes from the network
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(source)], tmp, env)
    (wheel,) = (tmp / "dist").glob("tuner-*.whl")
    shipped = {n.removeprefix("tuner/conf/") for n in zipfile.ZipFile(wheel).namelist() if n.startswith("tuner/conf/")}
    assert shipped == {str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")}
    run([*pip, "install", "--no-deps", "--target", str(tmp / "site"), str(wheel)], tmp, env)
    return tmp / "site"


def test_the_installed_wheel_runs_a_users_experiment_from_an_empty_folder(installed, tmp_path):
    work = tmp_path / "project"
    (work / "conf/experiment").mkdir(parents=True)
    (work / "conf/experiment/my_exp.yaml").write_text(USER_EXPERIMENT)
    (work / "conf/config.yaml").write_text("name: not_tuners_primary_config\n")  # must not replace tuner's
    env = {**os.environ, "PYTHONPATH": str(installed), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["TUNER_CACHE_DIR"] = str(tmp_path / "cache")

    where = run([sys.executable, "-c", "import tuner.config as c; print(c.__file__); print(c.CONF_DIR)"], work, env)
    module, conf = where.stdout.split()
    assert Path(module).is_relative_to(installed) and Path(conf) == installed / "tuner/conf"

    tiny = [o for o in TINY if not o.startswith("search.n_trials")]
    ran = run([str(installed / "bin/tuner"), "+experiment=my_exp", *tiny], work, env)
    assert "my_exp" in ran.stdout + ran.stderr
    board = (work / "experiments/my_exp/leaderboard.csv").read_text().splitlines()
    assert len(board) == 2 and "COMPLETE" in board[1]
    assert (work / "mlflow.db").is_file() and any((work / "mlruns").iterdir())

    exported = run([sys.executable, "-m", "tuner.export", "+experiment=my_exp", *tiny], work, env)
    assert "test accuracy" in exported.stdout
    assert (work / "experiments/my_exp/submission.csv").read_text().startswith("filename,label\n")
    assert sorted(p.name for p in work.iterdir()) == ["conf", "experiments", "mlflow.db", "mlruns"]
