"""``python -m tuner.replay +experiment=<name> trial=<N>``: retrain one trial from what it logged and
compare the values. Every argument but ``trial=`` is a Hydra override, as for ``python -m tuner``.

Example::

    python -m tuner.replay +experiment=digits_cnn trial=3
    # trial 3 of digits_cnn: val_accuracy 0.9853 -> replayed 0.9853 (difference 0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging
import sys

from tuner import app
from tuner.cli.entry import guarded
from tuner.config import compose
from tuner.errors import ConfigError

if TYPE_CHECKING:  # the commands import what loads Keras only once the backend is set
    from tuner.runner.replay import Replayed


def parse_trial(argv: list[str]) -> tuple[int, list[str]]:
    """The trial number of ``trial=<N>`` and the other arguments (the overrides)."""
    picked = [a for a in argv if a.startswith("trial=")]
    if len(picked) != 1 or not picked[0].removeprefix("trial=").isdigit():
        raise ConfigError("give the trial to replay once, as trial=<number>, e.g. "
                          "python -m tuner.replay +experiment=digits_cnn trial=3")
    return int(picked[0].removeprefix("trial=")), [a for a in argv if a not in picked]


def replay_from_argv(argv: list[str]) -> tuple[Replayed, str]:
    number, overrides = parse_trial(argv)
    cfg = compose(overrides)
    return app.replay(cfg, number), cfg.name


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    result, name = guarded(lambda: replay_from_argv(list(sys.argv[1:] if argv is None else argv)))
    print(f"trial {result.trial} of {name}: {result.metric} {result.original:.6g} -> replayed "
          f"{result.replayed:.6g} (difference {abs(result.replayed - result.original):.3g}; study {result.study})")
