"""The commands: ``python -m tuner``, ``tuner.export``, ``tuner.leaderboard``, ``tuner.replay``.

Each is a thin function under one wrapper (``tuner.cli.entry``): a TunerError is logged and exits 2.
Only the ``__main__`` modules import this package.
"""

from __future__ import annotations
