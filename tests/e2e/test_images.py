"""``data=images`` end to end on each layout: a tiny study, its export (labels by class name) and
``tuner.predict`` on new images with the registered model; predict's errors."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

from tuner import app
from tuner.errors import DataError, TunerError

from ..cli.test_commands import tuner
from ..conftest import TINY
from ..imagefolders import CLASSES, class_image, save, write_class_folders

SMALL = [o for o in TINY if not o.startswith(("search.n_trials", "data.max_samples"))] + [
    "search.n_trials=1", "data.image_size=[12,12]", "search.space.epochs=3", "search.space.learning_rate=0.01",
    "search.space.optimizer=adam"]


def new_images(folder):
    """Unseen images to label: two per class, one in a subfolder, and a file that is not an image."""
    for label in range(len(CLASSES)):
        save(class_image(label, 900), folder / f"new-{label}", 1)
        save(class_image(label, 901, (70, 50)), folder / "deeper" / f"new-{label}", 4)
    (folder / "notes.txt").write_text("skipped")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["flat", "labelled", "unlabelled"])
def test_study_export_and_predict(layout, make_cfg, tmp_path):
    root = write_class_folders(tmp_path / "photos", per_class=24, test=None if layout == "flat" else layout)
    cfg = make_cfg("+experiment=images_mlp", f"data.path={root}", *SMALL, tiny=False)
    app.run_study(cfg)
    submission = app.export(cfg)
    rows = pd.read_csv(submission.path, dtype=str)
    assert list(rows.columns) == ["filename", "label"] and set(rows.label) <= set(CLASSES)
    if layout == "flat":
        assert all(f.split("/")[0] in CLASSES for f in rows.filename) and submission.test_accuracy is not None
    elif layout == "labelled":
        assert rows.filename[0] == "cat/0-500.png" and submission.test_accuracy > 0.5  # colours are easy
    else:
        assert rows.filename[0] == "new-0-0.png" and submission.test_accuracy is None and len(rows) == 12
    assert submission.model_version == 1

    folder = new_images(tmp_path / "new")
    out = tmp_path / "labels.csv"
    result = app.predict(make_cfg("+experiment=images_mlp", f"data.path={root}", *SMALL, f"predict.input={folder}",
                                  f"predict.output={out}", "predict.probabilities=true", tiny=False))
    assert (result.read, result.skipped, result.model) == (6, 1, "models:/tuner-images_mlp/1")
    table = pd.read_csv(out)
    assert list(table.columns) == ["filename", "label", "probability", *CLASSES]
    assert sorted(table.filename) == sorted([f"new-{i}.jpg" for i in range(3)] + [f"deeper/new-{i}.webp" for i in range(3)])
    assert table[list(CLASSES)].sum(axis=1).round(4).eq(1).all() and table.probability.between(0, 1).all()
    truth = table.filename.str.extract(r"new-(\d)")[0].astype(int).map(dict(enumerate(CLASSES)))
    assert (table.label == truth).mean() >= 0.5

    one = app.predict(make_cfg("+experiment=images_mlp", f"data.path={root}", *SMALL,
                               f"predict.input={folder / 'new-2.jpg'}", "predict.model=models:/tuner-images_mlp/1",
                               tiny=False))
    assert one.read == 1 and one.path == tmp_path / "experiments/images_mlp/predictions.csv"
    assert list(pd.read_csv(one.path).columns) == ["filename", "label", "probability"]

    with pytest.raises(TunerError, match=r"takes 3-channel \(rgb\) images, but data.color_mode=grayscale"):
        app.predict(make_cfg("+experiment=images_mlp", f"data.path={root}", *SMALL, f"predict.input={folder}",
                             "data.color_mode=grayscale", tiny=False))
    with pytest.raises(TunerError, match="tuner-images_mlp has no version 7 at .*; it has versions 1"):
        app.predict(make_cfg("+experiment=images_mlp", f"data.path={root}", *SMALL, f"predict.input={folder}",
                             "predict.model=models:/tuner-images_mlp/7", tiny=False))


def test_predict_before_any_export_says_how_to_make_one(make_cfg, tmp_path):
    folder = new_images(tmp_path / "new")
    with pytest.raises(TunerError, match=r"no model is registered as tuner-images_mlp .*: export one first with "
                                         r"`python -m tuner.export \+experiment=images_mlp`"):
        app.predict(make_cfg("+experiment=images_mlp", f"predict.input={folder}"))


def test_predict_on_a_folder_without_images(make_cfg, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.md").write_text("no images")
    with pytest.raises(DataError, match=r"empty \(predict.input\): no images .* 1 other files skipped"):
        app.predict(make_cfg("+experiment=images_mlp", f"predict.input={tmp_path / 'empty'}"))
    with pytest.raises(TunerError, match="predict.input is not set"):
        app.predict(make_cfg("+experiment=images_mlp"))
    with pytest.raises(TunerError, match=r"predict.model='tuner-x/3' is not a registered model version"):
        Image.new("RGB", (4, 4)).save(tmp_path / "one.png")
        app.predict(make_cfg("+experiment=images_mlp", f"predict.input={tmp_path / 'one.png'}",
                             "predict.model=tuner-x/3"))


@pytest.mark.slow
def test_the_commands_print_what_they_did(tmp_path):
    root = write_class_folders(tmp_path / "photos", per_class=24, test="labelled")
    args = ["+experiment=images_mlp", f"data.path={root}", *SMALL]
    for module in ("tuner", "tuner.export"):
        done = tuner(tmp_path, *args, module=module)
        assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy 0." in done.stdout or "test accuracy 1.0000" in done.stdout
    folder = new_images(tmp_path / "new")
    done = tuner(tmp_path, *args, f"predict.input={folder}", "predict.output=out.csv", module="tuner.predict")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read 6 images (skipped 1 files that are not images); wrote out.csv (6 rows) with " \
           "models:/tuner-images_mlp/1, classes cat, dog, owl" in done.stdout
    assert (tmp_path / "out.csv").read_text().startswith("filename,label,probability\n")
    before = tuner(tmp_path, "+experiment=images_cnn", f"predict.input={folder}", module="tuner.predict")
    assert before.returncode == 2 and "no model is registered as tuner-images_cnn" in before.stdout + before.stderr
