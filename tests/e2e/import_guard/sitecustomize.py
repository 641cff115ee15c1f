"""Put on PYTHONPATH by tests/e2e/test_backends.py: Python imports this at start-up, in tuner's worker
processes too.

- ``TUNER_TEST_BLOCK=tensorflow``: the package stays installed (``importlib.util.find_spec`` finds it, as
  PyTorch's probes expect) but importing it fails, and each attempt is appended to ``TUNER_TEST_BLOCK_LOG``
  with the stack that made it, so a test sees an import even where the caller swallowed the error.
- ``TUNER_TEST_ABSENT=jax``: the package behaves as if it were not installed.
"""

import importlib.abc
import os
import sys
import traceback

BLOCK = {p for p in os.environ.get("TUNER_TEST_BLOCK", "").split(",") if p}
ABSENT = {p for p in os.environ.get("TUNER_TEST_ABSENT", "").split(",") if p}
LOG = os.environ.get("TUNER_TEST_BLOCK_LOG")


class _Refused(importlib.abc.Loader):
    def create_module(self, spec):
        if LOG:
            with open(LOG, "a") as f:
                f.write(f"import of {spec.name} in pid {os.getpid()}:\n{''.join(traceback.format_stack())}\n")
        raise ModuleNotFoundError(f"the test refuses to import {spec.name}", name=spec.name)

    def exec_module(self, module):
        raise AssertionError("unreachable")


class _Guard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r} (the test hides it)", name=name)
        if top not in BLOCK:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                spec.loader = _Refused()
                return spec
        return None


if BLOCK or ABSENT:
    sys.meta_path.insert(0, _Guard())
