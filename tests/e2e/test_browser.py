"""The MLflow UI, in a real headless Chromium (Debian's, driven by Playwright, no browser
download), shows a tiny study's runs with their val_accuracy and the parent run's plots."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

from tuner.app import export, join_study, run_study
from tuner.tracking.links import DEFAULT_UI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ML = "workflowType=machine_learning"  # the UI opens on its GenAI pages unless told otherwise
SHOTS_ENV = "TUNER_SCREENSHOTS"  # a folder to keep the screenshots in (default: the test's own tmp folder)
UI_START_S = 120
WAIT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + UI_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow ui did not answer on {url} within {UI_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def mlflow_ui(workdir: Path):
    """``mlflow ui`` on a free loopback port against the test's store; yields its base URL."""
    port = _free_port()
    log = workdir / "mlflow-ui.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base + "/", proc, log)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


LINK = re.compile(r"the trials in MLflow: (\S+) \(served by `mlflow ui --backend-store-uri (\S+)`\)")


@pytest.fixture
def tiny_study(make_cfg, caplog):
    """A tiny study and its export; also the link the run printed to open its runs."""
    cfg = make_cfg("+experiment=digits_cnn", "search.space.filters=4", "search.space.kernel_size=3")
    with caplog.at_level(logging.INFO, logger="tuner"):
        run_study(cfg)
    ((link, store),) = [m.groups() for r in caplog.records if (m := LINK.fullmatch(r.getMessage()))]
    assert store == cfg.tracking.uri
    submission = export(cfg)
    assert submission.link.startswith(link)
    return cfg, link


@pytest.mark.slow
def test_the_printed_link_opens_the_runs_with_val_accuracy_dataset_models_and_plots(tiny_study, mlflow_ui, workdir):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)"
    cfg, link = tiny_study
    assert link.startswith(DEFAULT_UI + "/#/experiments/") and link.endswith(f"/runs?{ML}")
    study = join_study(cfg)
    client = mlflow.MlflowClient(cfg.tracking.uri)
    experiment_id = client.get_experiment_by_name(cfg.name).experiment_id
    parent = study.user_attrs["mlflow_parent_run_id"]
    digest = client.get_run(parent).inputs.dataset_inputs[0].dataset.digest
    val = {f"trial-{t.number:04d}": client.get_run(t.user_attrs["mlflow_run_id"]).data.metrics["val_accuracy"]
           for t in study.trials}
    shots = Path(os.environ.get(SHOTS_ENV) or workdir / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 2200, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.goto(link.replace(DEFAULT_UI, mlflow_ui), wait_until="domcontentloaded")  # a bare `mlflow ui`'s port
            page.get_by_text(f"study-{cfg.name}").wait_for()
            page.get_by_role("button", name="Columns").click()
            page.locator('span[title="val_accuracy"]').click()
            page.keyboard.press("Escape")
            study_row = page.locator('[role="row"]', has_text=f"study-{cfg.name}")
            study_row.locator('button[data-component-id*="runnamecellrenderer"]').click()  # show the trials
            for name, value in val.items():
                row = page.locator('[role="row"]', has_text=name)
                row.wait_for()
                index = row.get_attribute("row-index")  # the grid splits a row into pinned and scrolled parts
                cell = page.locator(f'[role="row"][row-index="{index}"] [role="gridcell"][col-id*="val_accuracy"]')
                cell.scroll_into_view_if_needed()
                assert cell.is_visible() and float(cell.inner_text()) == pytest.approx(value, abs=1e-6), name
                dataset = page.locator(f'[role="row"][row-index="{index}"] [role="gridcell"][col-id*="Dataset"]')
                assert dataset.inner_text().startswith(f"digits/mnist5k ({digest[:36]})"), name
                source = page.locator(f'[role="row"][row-index="{index}"] [role="gridcell"][col-id*="Source"]')
                assert source.inner_text() == "tuner", name
            page.screenshot(path=str(shots / "experiment_runs.png"))

            page.goto(f"{mlflow_ui}/#/experiments/{experiment_id}/models?{ML}", wait_until="domcontentloaded")
            for name in val:
                model_row = page.locator('[role="row"]', has_text=name).first  # each trial's model, by its run
                model_row.wait_for()
                assert "digits/mnist5k" in model_row.inner_text(), name  # the dataset its metrics were measured on
            page.screenshot(path=str(shots / "experiment_models.png"))

            page.goto(f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{parent}?{ML}", wait_until="domcontentloaded")
            page.get_by_text(f"{len(val)} trials ({len(val)} COMPLETE)").wait_for()  # the study's description
            page.screenshot(path=str(shots / "parent_run.png"))

            page.goto(f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{parent}/artifacts?{ML}",
                      wait_until="domcontentloaded")
            page.get_by_text("leaderboard.csv").wait_for()
            page.get_by_text("plots", exact=True).click()
            for name in ("optimization_history.png", "param_importances.png", "parallel_coordinate.png",
                         "intermediate_values.png", "slice.png", "study_plots.html"):
                page.get_by_text(name, exact=True).wait_for()
            page.get_by_text("optimization_history.png", exact=True).click()
            page.get_by_text("plots/optimization_history.png", exact=True).wait_for()
            page.wait_for_function("() => [...document.images].some(i => i.complete && i.naturalWidth > 300)")
            page.screenshot(path=str(shots / "parent_run_plots.png"))
        finally:
            browser.close()
    for shot in ("experiment_runs.png", "experiment_models.png", "parent_run.png"):
        assert (shots / shot).stat().st_size > 10_000
    assert (shots / "parent_run_plots.png").stat().st_size > 10_000
