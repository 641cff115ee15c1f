"""tuner against KerasTuner on the same space, data split and wall-clock budget.

    .venv/bin/python -m bench.vs_kerastuner --minutes 3 --tasks digits,fashion

``translate`` turns a parsed tuner space into a KerasTuner hypermodel, ``timed`` stops
KerasTuner's search on the clock, ``race`` runs each tool and collects its figures.
"""
