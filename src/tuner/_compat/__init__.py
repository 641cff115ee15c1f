"""Every private API of Optuna and NumPy that tuner relies on, behind one package, so that a new release
that changes one breaks here, and ``tests/test_compat.py`` says which, instead of deep inside a run.

- ``tuner._compat.optuna``: the storage behind a study, a trial's storage id, the heartbeat check, and the
  two hooks of Optuna's TPE sampler that the cost-aware sampler (``sampler=tpe_cost``) overrides.
- ``tuner._compat.numpy``: the array reconstructor that pickled NumPy arrays (CIFAR-10's batches) name.

Split in two so that the data stage, which must not import Optuna, can use the NumPy part alone.
pyproject pins the versions these were checked against.
"""
