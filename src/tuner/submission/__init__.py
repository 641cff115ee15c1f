"""The submission stage: the best model's predictions on the test split as a submission CSV, the ensembles
and refits that may produce them, and the best model's insight figures.

``python -m tuner.export +experiment=<name>`` runs it from the command line.
"""

from __future__ import annotations
