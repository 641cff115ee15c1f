"""constraints.txt holds the exact versions `make` installs (so that CI's install from scratch is the one
tested here): the venv is exactly that set, and a package a change adds to pyproject.toml without
`make constraints` fails here rather than installing whatever PyPI has that day."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from bench.gpu_wheels import read_pins
from packaging.utils import canonicalize_name

CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"
# what pip freeze leaves out (the installers) and tuner itself (installed editable)
NOT_FROZEN = frozenset({"pip", "setuptools", "wheel", "tuner"})


def test_the_venv_holds_exactly_the_constrained_versions() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    installed = {name: version for name, version in installed.items() if name not in NOT_FROZEN}
    assert {pin.key: pin.version for pin in read_pins(CONSTRAINTS)} == installed
