"""bench/memory.py counts the memory of every process a run starts, and prices a change of worker."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from bench.memory import recycle_cost, tree_rss_mib

from tuner.study.records import WORKER_PID

HOLD_MIB = 200


@pytest.mark.slow  # starts a process
@pytest.mark.timeout(60)
def test_the_tree_counts_a_childs_memory() -> None:
    alone = tree_rss_mib(os.getpid())
    hold = f"b = b'x' * ({HOLD_MIB} * 2**20); print('ready', flush=True); input()"
    child = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        assert tree_rss_mib(os.getpid()) - alone > HOLD_MIB
        assert tree_rss_mib(child.pid) > HOLD_MIB
    finally:
        child.communicate("\n", timeout=30)


def test_a_change_of_worker_costs_its_pause_less_the_usual_one() -> None:
    t0 = dt.datetime(2026, 12, 1)

    def trial(start: float, end: float, pid: int) -> SimpleNamespace:
        return SimpleNamespace(datetime_start=t0 + dt.timedelta(seconds=start),
                               datetime_complete=t0 + dt.timedelta(seconds=end), user_attrs={WORKER_PID: pid})

    trials = [trial(0, 5, 1), trial(6, 10, 1), trial(40, 45, 2), trial(46, 50, 2)]  # pauses 1, 30, 1
    assert recycle_cost(trials) == (2, 29.0, 1.0)
    assert recycle_cost(trials[:2]) == (1, None, 1.0)
