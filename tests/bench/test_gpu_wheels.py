"""bench/gpu_wheels.txt, the wheels carried to the accelerator machine, stays in step with tuner's own venv:
each pin is the version installed here, and whatever a pinned package requires is pinned too, or on that
machine already, or named as left out with a reason."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from bench.gpu_wheels import NOT_CARRIED, ON_THE_MACHINE, prune, read_pins
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# the accelerator machine: CPython 3.12 on x86-64 Linux
MACHINE = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def test_each_pin_is_the_version_installed_here() -> None:
    pins = read_pins()
    installed = {p.name: importlib.metadata.version(p.name) for p in pins}
    assert {p.name: p.version for p in pins} == installed


def test_every_requirement_of_a_pin_is_carried_on_the_machine_or_left_out_with_a_reason() -> None:
    pins = read_pins()
    carried = {p.key for p in pins}
    missing = {}
    for pin in pins:
        for line in importlib.metadata.requires(pin.name) or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(MACHINE):
                continue  # an extra, or for another Python or platform
            key = canonicalize_name(req.name)
            if key not in carried and key not in ON_THE_MACHINE and key not in NOT_CARRIED:
                missing.setdefault(key, []).append(pin.name)
    assert missing == {}
    assert not carried & ON_THE_MACHINE  # one version of each: the machine's is used, none is carried


def test_a_bad_line_or_a_package_pinned_twice_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("keras==3.15.1\nnumpy>=2\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: 'numpy>=2' is not NAME==VERSION"):
        read_pins(bad)
    twice = tmp_path / "twice.txt"
    twice.write_text("SQLAlchemy==2.1.9\nsqlalchemy==2.1.8\n")
    with pytest.raises(ValueError, match="pinned twice"):
        read_pins(twice)


def test_prune_keeps_one_wheel_per_pin_and_removes_the_rest(tmp_path: Path) -> None:
    pins = read_pins()
    for pin in pins:
        (tmp_path / f"{pin.key.replace('-', '_')}-{pin.version}-py3-none-any.whl").write_bytes(b"")
    stale = tmp_path / "keras-3.14.0-py3-none-any.whl"
    stale.write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    kept = prune(pins, tmp_path)
    assert len(kept) == len(pins) and not stale.exists() and not (tmp_path / "notes.txt").exists()
    kept[0].unlink()
    with pytest.raises(SystemExit, match="no wheel for"):
        prune(pins, tmp_path)
