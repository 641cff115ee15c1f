"""The plug points: data sources, the model builder, samplers and pruners are objects built from config
by Hydra's ``_target_``, so tuner's own are just the first entries of each group.

Every ``_target_`` stays inside ``tuner.*``, ``optuna.*`` or ``keras.*``: config chooses among code that
ships with those packages, it never imports a user's module. A user's own model enters through one
documented hook, ``model.builder`` (a dotted path to a function, ``tuner.models.custom``), which is not a
``_target_``: ``user_builder`` reads it, and ``instantiate`` leaves it and ``model.input_stage`` out.

Example::

    sampler = instantiate({"_target_": "optuna.samplers.RandomSampler", "seed": 0}, "sampler")
    grid = instantiate(cfg.sampler, "sampler")  # a ConfigError naming sampler and the fix on a bad key
"""

from __future__ import annotations

from typing import Any

from tuner.errors import ConfigError, TunerError

ALLOWED_TARGETS = ("tuner.", "optuna.", "keras.")
BUILTIN_BUILDER = "tuner.models.build_model"  # what model.builder may also name: tuner's own builder
HOOK_KEYS = ("builder", "input_stage")  # model.* keys that are settings of the hook, not arguments of _target_


def user_builder(model: Any) -> str | None:
    """The dotted path ``model.builder`` names (of the ``model`` config), or None for tuner's own builder (the key
    missing or null, or naming ``tuner.models.build_model``).

    Example::

        user_builder({"_target_": "tuner.models.build_model", "builder": "my_model.build"})  # "my_model.build"
    """
    if model is None or not hasattr(model, "get"):
        return None
    path = model.get("builder")
    return None if path is None or str(path) == BUILTIN_BUILDER else str(path)


def check_target(node: Any, key: str) -> str:
    """The ``_target_`` of ``node`` (a config mapping at ``key``), checked to lie inside the allowed packages."""
    if node is None or not hasattr(node, "keys") or "_target_" not in node:
        raise ConfigError(f"{key} has no _target_: pick one with {key.split('.')[0]}=<name> "
                          f"(see conf/{key.split('.')[0]}/)")
    target = str(node["_target_"])
    if not target.startswith(ALLOWED_TARGETS):
        group = key.split(".")[0]
        raise ConfigError(f"{key}._target_={target}: a _target_ must lie inside "
                          f"{', '.join(p + '*' for p in ALLOWED_TARGETS)}; pick a shipped one (conf/{group}/)")
    return target


def instantiate(node: Any, key: str, **kwargs: Any) -> Any:
    """Build the object ``node`` describes (``_target_`` and its arguments); ``kwargs`` are passed on.

    A constructor's own TunerError passes through; any other failure becomes a ConfigError naming ``key``.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    target = check_target(node, key)
    if key == "model":
        node = {k: v for k, v in node.items() if k not in HOOK_KEYS}
    try:
        return hydra_instantiate(node, **kwargs)
    except TunerError:
        raise
    except InstantiationException as err:
        if isinstance(err.__cause__, TunerError):  # the factory's own message says it best
            raise err.__cause__ from None
        raise ConfigError(f"cannot build {key} ({target}): {err}") from err
    except Exception as err:  # noqa: BLE001 - Hydra and the constructor raise many types for a bad argument
        raise ConfigError(f"cannot build {key} ({target}): {type(err).__name__}: {err}") from err
