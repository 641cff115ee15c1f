"""bench/vs_kerastuner/summary.py on made-up race rows (not a measured result): the statistics the
protocol reports, worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench._common import RESULTS_ENV
from bench.vs_kerastuner.summary import main, summarise


def row(seed: int, tool: str, val: float | None, test: float | None, **seconds_to: float | None) -> dict:
    return {"task": "fashion_cnn", "seed": seed, "tool": tool, "complete": 5, "pruned": 1, "epochs": 30,
            "best_val": val, "test": test, "seconds_to": seconds_to}


# tuner ahead of random by 2.0 and 2.5 points on seeds 1 and 2, behind by 1.5 on seed 3 (ranks 2, 3 and 1);
# hyperband ran seeds 1 and 2 only
SEED_1 = [row(1, "tuner", 0.90, 0.88, random=100.0, hyperband=50.0),
          row(1, "random", 0.88, 0.87, tuner=None, random=400.0), row(1, "hyperband", 0.89, 0.86)]
SEED_2 = [row(2, "tuner", 0.915, 0.89, random=200.0, hyperband=None), row(2, "random", 0.89, 0.88, random=500.0),
          row(2, "hyperband", 0.92, 0.90)]
SEED_3 = [row(3, "tuner", 0.92, 0.90, random=None), row(3, "random", 0.935, 0.91)]


def test_means_leads_wilcoxon_and_targets_over_seeds() -> None:
    figures = summarise(SEED_1 + SEED_2 + SEED_3, minutes=10)
    assert figures["seeds"] == [1, 2, 3]
    tools = {t["tool"]: t for t in figures["tools"]}
    assert [(t["seeds"], t["mean_val"], t["led"]) for t in tools.values()] == [
        (3, 0.9117, 1), (3, 0.9017, 1), (2, 0.905, 1)]
    assert tools["tuner"]["mean_test"] == 0.89
    random, hyperband = figures["versus"]
    assert (random["against"], random["seeds"], random["tuner_ahead"]) == ("random", 3, 2)
    assert random["mean_val_points"] == 1.0  # (2.0 + 2.5 - 1.5) / 3
    # exact: W- = 1 of the 8 equally likely sign patterns of ranks 1-3, two-sided: 2 x 2/8
    assert random["wilcoxon_p_val"] == 0.5 and random["tuner_median_s_to_final_best"] == 200.0  # of 100, 200, never
    assert (hyperband["seeds"], hyperband["tuner_ahead"], hyperband["wilcoxon_p_val"]) == (2, 1, 1.0)
    assert random["tuner_median_time_share"] == 0.4  # of 100/400, 200/500, never
    assert hyperband["tuner_median_s_to_final_best"] is None  # of 50 s and never
    assert [(t["value"], t["needed"], t["met"]) for t in figures["targets"]] == [
        (1.0, ">= 1.0", True), ("2 of 3", ">= 3 of 3", False), (0.4, "<= 0.5", True)]
    assert figures["per_seed"][2] == {"task": "fashion_cnn", "seed": 3, "tuner_val": 0.92, "random_val": 0.935,
                                      "hyperband_val": None, "tuner_test": 0.90, "random_test": 0.91,
                                      "hyperband_test": None, "tuner_s_to_random": None, "tuner_s_to_hyperband": None}


def test_a_tool_without_a_model_scores_zero_and_equal_seeds_give_no_p_value() -> None:
    rows = [row(1, "tuner", 0.9, 0.9), row(1, "random", None, None), row(2, "tuner", 0.9, 0.9),
            row(2, "random", 0.9, 0.9)]
    (versus,) = summarise(rows, minutes=4)["versus"]
    assert versus["tuner_ahead"] == 1 and versus["mean_val_points"] == 45.0
    assert summarise(rows[2:], minutes=4)["versus"][0]["wilcoxon_p_val"] is None


def test_main_prints_and_saves_the_figures(tmp_path: Path, capsys, monkeypatch) -> None:
    files = []
    for i, rows in enumerate((SEED_1, SEED_2, SEED_3)):
        files.append(tmp_path / f"fashion-seed{i + 1}.json")
        files[-1].write_text(json.dumps(rows))
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "results"))
    assert main(["--minutes", "10", "--save", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "| fashion_cnn | random | 3 | 2 | 1.0 |" in out
    assert "| fashion_cnn | seeds ahead of random | 2 of 3 | >= 3 of 3 | False |" in out
    (saved,) = (tmp_path / "results").glob("vs_kerastuner_summary-*.json")
    record = json.loads(saved.read_text())
    assert record["figures"] == json.loads(json.dumps(summarise(SEED_1 + SEED_2 + SEED_3, 10)))


@pytest.mark.parametrize(("content", "message"), [
    ('{"task": "fashion_cnn"}', "expected a JSON list of objects"),
    (json.dumps([{"task": "fashion_cnn", "seed": 1}]), "row 0: missing tool, complete, pruned"),
    (json.dumps([row(1, "kt-random", 0.9, 0.9)]), "row 0: tool 'kt-random' is not one of tuner, random, hyperband"),
    (json.dumps(SEED_1 + SEED_1[:1]), "task fashion_cnn, seed 1, tool tuner is already in"),
    ("[", "not a readable JSON file"),
])
def test_a_bad_file_is_refused_with_its_name(tmp_path: Path, capsys, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(SystemExit) as stop:
        main(["--minutes", "10", str(bad)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and str(bad) in err and message in err
