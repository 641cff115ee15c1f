"""constraints.txt holds the exact versions `make` installs (so that CI's install from scratch is the one
tested here): the venv is exactly that set, and a package a change adds to pyproject.toml without
`make constraints` fails here rather than installing whatever PyPI has that day."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# what pip freeze leaves out (the installers) and tuner itself (installed editable)
NOT_FROZEN = frozenset({"pip", "setuptools", "wheel", "tuner"})


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier  # NAME==VERSION, nothing else
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_the_venv_holds_exactly_the_constrained_versions() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    installed = {name: version for name, version in installed.items() if name not in NOT_FROZEN}
    assert constraints() == installed

