from __future__ import annotations

import numpy as np
import pytest

from tuner.config import compose
from tuner.data import load_dataset
from tuner.errors import ConfigError


def digits(*overrides: str):
    return compose(list(overrides)).data


def test_mnist5k_split_is_stratified_and_raw_uint8():
    ds = load_dataset(digits(), seed=0)
    assert ds.x_train.shape[1:] == (28, 28, 1) and ds.x_train.dtype == np.uint8  # the model scales in-graph
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 5000
    assert len(ds.y_val) == 750 and len(ds.y_test) == 750
    assert ds.x_train.max() == 255
    for y in (ds.y_train, ds.y_val, ds.y_test):
        counts = np.bincount(y, minlength=10)
        assert counts.min() > 0
        assert counts.max() / counts.min() < 1.1  # mnist5k holds 500 of each digit


def test_split_depends_only_on_the_seed():
    a, b, c = (load_dataset(digits(), seed=s) for s in (0, 0, 1))
    assert a is b  # decoded and split once per process
    assert a.test_ids != c.test_ids
    assert list(a.test_ids) == sorted(a.test_ids) and len(set(a.test_ids)) == len(a.test_ids)


def test_splits_do_not_overlap():
    ds = load_dataset(digits(), seed=3)
    flat = lambda x: {row.tobytes() for row in x.reshape(len(x), -1)}  # noqa: E731
    assert not flat(ds.x_test) & flat(ds.x_val)


def test_max_samples_keeps_every_class():
    ds = load_dataset(digits("data.max_samples=200"), seed=0)
    total = len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
    assert total == 200 and set(ds.y_train) == set(range(10)) and set(ds.y_test) == set(range(10))


def test_sklearn_8x8_source():
    ds = load_dataset(digits("data.source=sklearn8x8"), seed=0)
    assert ds.input_shape == (8, 8, 1)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 1797


def test_unknown_source_names_the_choices():
    with pytest.raises(ConfigError, match="unknown source 'mnist' at data.source for task digits; choose one of: mnist5k"):
        load_dataset(digits("data.source=mnist"), seed=0)
