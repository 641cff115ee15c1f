"""``python -m tuner +experiment=<name>``: compose the config, run the study."""

from __future__ import annotations

import logging
import signal
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import tuner  # noqa: F401 - quiets TensorFlow before anything imports it
from tuner.config import CONF_DIR
from tuner.errors import TunerError

log = logging.getLogger("tuner")


def task_overrides() -> list[str]:
    """The overrides this invocation was given on the command line."""
    return list(HydraConfig.get().overrides.task)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from tuner.config import objectives, validate
    from tuner.device import configure

    try:
        validate(cfg)
        configure(cfg.device)  # worker processes pick their own GPU again (device.configure keeps the full list)
        from tuner.run import run_study

        best = run_study(cfg, task_overrides())
        if best is None:
            raise TunerError(
                f"no trial completed in study {cfg.name} (search.timeout={cfg.search.timeout}, search.n_trials="
                f"{cfg.search.n_trials}): nothing to export; give a budget that fits at least one whole trial "
                "(raise search.timeout) and see the log for pruned or failed trials")
    except TunerError as err:
        log.error("%s", err)
        sys.exit(2)
    except KeyboardInterrupt as err:
        log.error("interrupted (%s): the running trial is FAIL and its MLflow run KILLED; "
                  "rerun the same command to resume", err or "SIGINT")
        sys.exit(128 + getattr(err, "signum", signal.SIGINT))
    log.info("best %s: %s", objectives(cfg)[0][0], best)
    return best


if __name__ == "__main__":
    main()
