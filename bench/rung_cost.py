"""What each rung of sampler=priorband costs and scores: one mid-space CNN trained at rung 1, 2 and 3 of 3
(1/9, 1/3 and all of 6 epochs x the training images) on the Fashion race's data.

    .venv/bin/python bench/rung_cost.py [max_samples] [epochs]

Trains ``MID_CNN`` (``bench/_common.py``) with a cosine schedule, as a rung trial does (``Rung.epochs``
epochs on ``train_share`` of the training images, the schedule spanning the rung), on Fashion with
``data.max_samples=10000`` and ``data.val_fraction=0.15``. For each rung: its seconds (build, compile,
fit and validation), their ratio to the full trial's, and its validation accuracy. The budget counts
training images x epochs; a rung's seconds also pay what does not shrink with it (the model's build and
compile, one validation pass per epoch), so their ratio is the honest cost. The figures go to
bench/results/rung_cost-<date>-<time>.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from _common import MID_CNN, save_results, study_cfg

from tuner.data import load_dataset, train_share
from tuner.search.priorband import Rung


def main(max_samples: int, epochs: int) -> None:
    from tuner.models import build_model, new_session
    from tuner.training import train

    with tempfile.TemporaryDirectory(prefix="tuner-rungs-") as tmp:
        os.chdir(tmp)
        cfg = study_cfg(tmp, "data=fashion", f"data.max_samples={max_samples}", "data.val_fraction=0.15")
        data = load_dataset(cfg.data, cfg.seed)
    rows = []
    for rung in (Rung(0), Rung(1), Rung(2)):
        share = train_share(data, rung.data_fraction(epochs), cfg.seed)
        hp = {**MID_CNN, "epochs": rung.epochs(epochs), "lr_schedule": "cosine"}
        start = time.perf_counter()
        new_session(0)
        model = build_model(hp, data.input_shape, data.n_classes, data.pixel_mean)
        result = train(model, hp, share)
        seconds = time.perf_counter() - start
        rows.append({"rung": rung.describe(), "epochs": hp["epochs"], "train_images": len(share.y_train),
                     "seconds": round(seconds, 1), "val_accuracy": round(result.final("val_accuracy"), 4)})
        print(rows[-1])
    full = rows[-1]["seconds"]
    for row in rows:
        row["cost_of_full"] = round(row["seconds"] / full, 3)
    save_results("rung_cost", {"images": max_samples, "full_epochs": epochs, "rungs": rows},
                 notes="Run once on the shared 2-core machine while other sessions trained (loaded): seconds are "
                       "indicative. The budget is training images x epochs; cost_of_full is seconds over the full "
                       "trial's, which also counts each rung's build, compile and validation passes.")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [10000, 6][len(args):]))
