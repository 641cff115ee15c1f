"""The two settings of ``data=images`` that its types cannot check: ``data.image_size`` and ``data.color_mode``.

Example::

    image_size_of([32, 48])  # (32, 48): height, width
    color_mode_of("sepia")   # ConfigError: unknown data.color_mode 'sepia'; choose one of: rgb, grayscale
"""

from __future__ import annotations

from typing import Any

from tuner.errors import ConfigError

COLOR_MODES = ("rgb", "grayscale")


def image_size_of(value: Any) -> tuple[int, int]:
    """``data.image_size`` as ``(height, width)``: two whole numbers of at least 1, else a ConfigError."""
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else None
    if not items or len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in items):
        raise ConfigError(f"data.image_size={value}: give [height, width], two whole numbers of at least 1, "
                          "e.g. data.image_size=[32,32]")
    return int(items[0]), int(items[1])


def color_mode_of(value: Any) -> str:
    """``data.color_mode``, one of ``COLOR_MODES``, else a ConfigError naming them."""
    if value not in COLOR_MODES:
        raise ConfigError(f"unknown data.color_mode {value!r}; choose one of: {', '.join(COLOR_MODES)}")
    return str(value)
