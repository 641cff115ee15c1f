"""``python -m tuner.studies list|delete``: every study with its trials, best value and storage; deleting one.

Every other argument is a Hydra override, as for ``python -m tuner`` (``experiments_dir=...``,
``search.storage=...``, ``tracking.uri=...``, ``+experiment=...``).

Example::

    python -m tuner.studies list
    python -m tuner.studies delete digits_cnn          # the Optuna study only: name=digits_cnn starts afresh
    python -m tuner.studies delete digits_cnn --all    # also its MLflow experiment and runs, experiments/digits_cnn/
"""

from __future__ import annotations

import argparse
import logging
import sys

from tuner import app
from tuner.cli.entry import guarded
from tuner.config import compose, hide_password
from tuner.study.catalog import StudyInfo

SUBCOMMANDS: dict[str, argparse.ArgumentParser] = {}
USAGE = """python -m tuner.studies list [OVERRIDE ...]
       python -m tuner.studies delete NAME [--all] [OVERRIDE ...]"""


def parse(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed: flags and overrides may come in any order after the subcommand (and its NAME)."""
    top = parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        top.parse_args(argv)  # exits 2 with the usage (or 0 for --help)
    sub = SUBCOMMANDS[argv[0]]
    args = sub.parse_intermixed_args(argv[1:])
    args.command = argv[0]
    if args.command == "delete":  # NAME is the one word that is not a key=value override, wherever it stands
        words = [args.name, *args.overrides]
        names = [w for w in words if "=" not in w]
        if len(names) != 1:
            sub.error(f"give the study to delete once, as a NAME without '=' (got {names or 'none'}); "
                      "python -m tuner.studies list shows the names")
        args.name, args.overrides = names[0], [w for w in words if w != names[0]]
    return args


def parser() -> argparse.ArgumentParser:
    """The command's arguments: a subcommand, its NAME and flag, and Hydra overrides (``key=value``)."""
    top = argparse.ArgumentParser(prog="python -m tuner.studies", usage=USAGE, description=(
        "List tuner's studies (the journals under experiments_dir, and search.storage when given), or delete one."))
    sub = top.add_subparsers(dest="command", required=True, metavar="{list,delete}")
    listing = sub.add_parser("list", help="every study: its trials by state, best value and storage")
    listing.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. experiments_dir=...")
    delete = sub.add_parser("delete", help="delete a study so that name=NAME starts afresh", description=(
        "Delete the Optuna study NAME from where it lives (experiments_dir/NAME/study.journal, or search.storage). "
        "Without --all its MLflow experiment and runs and the folder experiments_dir/NAME/ are kept."))
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--all", action="store_true", dest="everything", help=(
        "also delete the MLflow experiment NAME with its runs and the registered model tuner-NAME (at tracking.uri), "
        "and the folder experiments_dir/NAME/ (journal, leaderboard, submission, run logs)"))
    delete.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. search.storage=...")
    SUBCOMMANDS.update(list=listing, delete=delete)
    return top


def table(found: list[StudyInfo]) -> str:
    """The studies as a table for a terminal."""
    if not found:
        return "no studies found"
    rows = [("study", "trials", "best", "storage")]
    for info in found:
        trials = f"{sum(info.states.values())}: " + ", ".join(f"{n} {s}" for s, n in info.states.items())
        best = f"{info.metric} {info.best:.6g} (trial {info.best_trial})" if info.best is not None else "-"
        rows.append((info.name, trials if info.states else "0", best, info.where))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3] for r in rows)


def describe(done: app.Deleted, uri: str) -> str:
    """What ``delete`` removed and what it kept, in the words the command prints."""
    ref = done.ref
    lines = [f"deleted study {ref.name} from {ref.where()}" if done.study
             else f"no Optuna study {ref.name} in {ref.where()} (deleted before)"]
    if done.tracking is None:
        lines.append(f"left its MLflow experiment {ref.name} (tracking.uri={hide_password(uri)}) and "
                     f"{ref.experiments_dir}/{ref.name}/ as they are; add --all to delete them too")
        return "\n".join(lines)
    removal = done.tracking
    if removal.experiment_id is None:
        lines.append(f"no MLflow experiment {ref.name} at tracking.uri={hide_password(uri)}")
    else:
        lines.append(f"deleted MLflow experiment {ref.name} (id {removal.experiment_id}, now {removal.trashed_as} in "
                     f"MLflow's trash: mlflow gc purges it) and its {removal.runs} runs")
    if removal.registered_model:
        lines.append(f"deleted registered model {removal.registered_model}")
    if done.folder is not None:
        lines.append(f"removed {done.folder}/")
    return "\n".join(lines)


def run(argv: list[str]) -> str:
    """Parse ``argv``, run the subcommand; what it prints."""
    args = parse(argv)
    cfg = compose(args.overrides)
    if args.command == "list":
        return table(app.studies(cfg))
    return describe(app.delete_study(cfg, args.name, args.everything), cfg.tracking.uri)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    print(guarded(lambda: run(list(sys.argv[1:] if argv is None else argv))))
