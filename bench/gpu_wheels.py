"""Download the wheels of bench/gpu_wheels.txt for the accelerator machine (what `make gpu-wheels` runs).

    python bench/gpu_wheels.py [--dest .whl] [--python-version 3.12] [--limit-mib 60]

Binary wheels come for CPython ``--python-version`` on manylinux x86_64; a pin marked
``# built from source`` (published as a source archive only) is built here into a pure-Python wheel.
Wheels in ``--dest`` that the list does not name, or of another version, are removed, so the folder
holds exactly one version of each package (two stop pip's install there). Prints each wheel's size and
the total, and fails when the total is over ``--limit-mib``. Needs pip and the network; imports no tuner.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:  # a bare Python: pip's own copy
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename

LIST = Path(__file__).resolve().with_name("gpu_wheels.txt")
BUILT_MARK = re.compile(r"#\s*built from source\b")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
# manylinux tags pip must be told one by one (it matches each exactly); the accelerator machine's glibc
# (Ubuntu 24.04's, as its Python 3.12.3 suggests: 2.39) takes them all
PLATFORMS = ("manylinux_2_35_x86_64", "manylinux_2_34_x86_64", "manylinux_2_31_x86_64", "manylinux_2_28_x86_64",
             "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")

# What the accelerator machine has already (KINDS.md's package list of its image, the part the pinned
# packages need): none of these is carried. (typing-extensions is there too, but perhaps older than pydantic
# needs: it is carried, and the carried folder comes first on PYTHONPATH.)
ON_THE_MACHINE = frozenset({
    "absl-py", "annotated-doc", "anyio", "certifi", "click", "cloudpickle", "h5py", "joblib", "markupsafe",
    "matplotlib", "ml-dtypes", "numpy", "packaging", "pandas", "protobuf", "pyyaml", "requests", "rich",
    "scikit-learn", "scipy", "tqdm", "urllib3", "zipp",
})
# What a pinned package requires that is neither carried nor there, and why the check does without it.
NOT_CARRIED = {
    "google-auth": "databricks-sdk's sign-in to Databricks workspaces, which tuner never contacts",
    "uvicorn": "the MLflow server (`mlflow ui`), which the check never starts",
    "pycparser": "cffi's C parser, needed to build bindings only: cryptography's come compiled",
}


@dataclass(frozen=True)
class Pin:
    name: str  # as written in the list
    version: str
    build: bool  # published as a source archive only: build the wheel here

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def read_pins(path: Path = LIST) -> list[Pin]:
    """The pins of ``path``: ``NAME==VERSION`` a line, ``#`` comments; a bad line or a name twice is an error."""
    pins: dict[str, Pin] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        build = bool(BUILT_MARK.search(raw))
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: {line!r} is not NAME==VERSION")
        pin = Pin(match[1], match[2], build)
        if pin.key in pins:
            raise ValueError(f"{path}:{number}: {pin.name} is pinned twice ({pins[pin.key]} and {pin})")
        pins[pin.key] = pin
    if not pins:
        raise ValueError(f"{path} pins no package")
    return list(pins.values())


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def download(pins: list[Pin], dest: Path, python_version: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    binary = [str(p) for p in pins if not p.build]
    if binary:
        platforms = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
        _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", python_version,
             "--implementation", "cp", *platforms, "-d", str(dest), *binary)
    for pin in (p for p in pins if p.build):
        if not any(_wheel_key(w) == (pin.key, pin.version) for w in dest.glob("*.whl")):
            _pip("wheel", "--quiet", "--no-deps", "--no-binary", pin.name, "-w", str(dest), str(pin))


def _wheel_key(path: Path) -> tuple[str, str]:
    name, version, _, _ = parse_wheel_filename(path.name)
    return str(name), str(version)


def prune(pins: list[Pin], dest: Path) -> list[Path]:
    """Remove from ``dest`` every file that is no wheel of a pinned package at its pinned version; return
    the wheels kept. A pin with no wheel, or with two (two builds of one version), is an error."""
    wanted = {p.key: p.version for p in pins}
    kept: dict[str, list[Path]] = {}
    for path in sorted(dest.iterdir()):
        if path.suffix != ".whl":
            path.unlink()
            continue
        key, version = _wheel_key(path)
        if wanted.get(key) == version:
            kept.setdefault(key, []).append(path)
        else:
            print(f"removing {path.name}: not in {LIST.name} at that version")
            path.unlink()
    missing = [str(p) for p in pins if p.key not in kept]
    doubles = {k: [w.name for w in v] for k, v in kept.items() if len(v) > 1}
    if missing or doubles:
        raise SystemExit(f"{dest}: no wheel for {missing}" if missing else f"{dest}: two wheels of one package: {doubles}")
    return [w for v in kept.values() for w in v]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path(".whl"))
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--limit-mib", type=float, default=60.0)
    args = parser.parse_args(argv)
    pins = read_pins()
    download(pins, args.dest, args.python_version)
    wheels = prune(pins, args.dest)
    total = 0
    for wheel in sorted(wheels, key=lambda w: w.stat().st_size, reverse=True):
        size = wheel.stat().st_size
        total += size
        print(f"{size / 2**20:7.2f} MiB  {wheel.name}")
    print(f"total: {total / 2**20:.1f} MiB in {len(wheels)} wheels under {args.dest} (limit {args.limit_mib:g} MiB)")
    if total > args.limit_mib * 2**20:
        print(f"error: {total / 2**20:.1f} MiB is over the {args.limit_mib:g} MiB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
