"""Runs tuner's commands on a small filesystem that fills up: ``unshare -m python full_disk.py OUT`` mounts a
size-limited tmpfs (in its own mount namespace: it goes away with this process) and puts ``experiments/``,
``mlruns/``, ``mlflow.db`` and ``TMPDIR`` on it. What each step printed and returned, and copies of the study
journal and ``mlflow.db``, go to ``OUT`` for ``test_disk_full`` to check.

The steps: a study whose first trial completes, then the disk fills but for a little space: the next trial's model
cannot be saved; once that trial is FAIL, the disk fills up while the next one runs (the journal cannot be
appended). Then an export onto the full disk, and the first command again once the space is freed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SIZE_MB = 24
LEFT_FOR_TRIAL = 160 * 1024  # room for a trial's journal and MLflow records, not for its model
STEP_S = 240
ARGS = ["+experiment=digits_mlp", "data.max_samples=300", "search.space.epochs=1", "search.space.batch_size=64",
        "search.space.width=32", "search.space.depth=1", "pruner=none"]


def fill(folder: Path, name: str, leave: int = 0) -> None:
    """Take all the free space of ``folder``'s filesystem but ``leave`` bytes, in the file ``name``."""
    st = os.statvfs(folder)
    size = max(st.f_bavail * st.f_frsize - leave, 0)
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT)
    try:
        if size:
            os.posix_fallocate(fd, 0, size)
        while not leave:  # the last pages too
            os.lseek(fd, 0, os.SEEK_END)
            try:
                os.write(fd, b"\0" * 4096)
            except OSError:
                break
    finally:
        os.close(fd)


def tuner(disk: Path, module: str, *extra: str, env: dict[str, str]) -> subprocess.Popen:
    args = [f"experiments_dir={disk / 'experiments'}", f"tracking.uri=sqlite:///{disk / 'mlflow.db'}", *ARGS, *extra]
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=disk, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen) -> dict[str, object]:
    out, _ = proc.communicate(timeout=STEP_S)
    return {"rc": proc.returncode, "out": out}


def wait_for(proc: subprocess.Popen, journal: Path, record: bytes) -> bool:
    """Wait until ``journal`` holds ``record``; False if ``proc`` ended first."""
    end = time.monotonic() + STEP_S
    while proc.poll() is None and time.monotonic() < end:
        if journal.exists() and record in journal.read_bytes():
            return True
        time.sleep(0.02)
    return False


def main(out: Path) -> None:
    disk = out / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(disk)], check=True)
    (disk / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(disk / "tmp"), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    folder = disk / "experiments" / "digits_mlp"
    journal = folder / "study.journal"
    steps: dict[str, object] = {"disk": str(disk)}

    proc = tuner(disk, "tuner", "search.n_trials=3", env=env)
    steps["completed_one"] = wait_for(proc, journal, b'"values":[')  # trial 0 COMPLETE
    fill(disk, "filler", leave=LEFT_FOR_TRIAL)
    steps["failed_one"] = wait_for(proc, journal, b"disk full:")  # trial 1 FAIL: its model could not be saved
    fill(disk, "filler2")
    steps["full"] = finish(proc)
    (disk / "filler").unlink()
    (disk / "filler2").unlink()

    (folder / "submission.csv").write_text("filename,label\nprevious,7\n")
    fill(disk, "filler")
    (out / "tmp").mkdir()  # the export's model download and its Hydra folder elsewhere: it reaches the CSV
    steps["export"] = finish(tuner(disk, "tuner.export", "export.register=false", "export.insight=false",
                                   f"hydra.run.dir={out / 'export-run'}", env={**env, "TMPDIR": str(out / "tmp")}))
    steps["export"]["submission"] = (folder / "submission.csv").read_text()
    steps["export"]["files"] = sorted(p.name for p in folder.iterdir())
    (disk / "filler").unlink()

    steps["again"] = finish(tuner(disk, "tuner", "search.n_trials=3", env=env))
    steps["tmp_left"] = sorted(str(p.relative_to(disk)) for p in (disk / "tmp").rglob("*"))
    steps["temp_files"] = sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))
    shutil.copy(journal, out / "study.journal")
    shutil.copy(disk / "mlflow.db", out / "mlflow.db")
    (out / "steps.json").write_text(json.dumps(steps, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
