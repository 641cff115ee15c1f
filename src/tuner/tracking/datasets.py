"""A task's data as an MLflow dataset input: what the runs table's Dataset column shows for each trial.

MLflow stores a dataset as its name, digest, source and schema; the arrays stay with tuner. The digest is
the data's content digest (``tuner.data.digest``), so two machines with their own copies of the same
images record the same dataset.

Example::

    tracker.log_dataset(run_id, dataset_input(data, "digits/mnist5k", "tuner:digits/mnist5k", digest(data)))
"""

from __future__ import annotations

import json

import numpy as np
from mlflow.data.schema import TensorDatasetSchema
from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.types import Schema, TensorSpec

from tuner.data import Dataset

CONTEXT_TAG = "mlflow.data.context"  # MLflow's own tag: what the run used the dataset for


def dataset_input(data: Dataset, name: str, source: str, digest: str, context: str = "training") -> DatasetInput:
    """``data`` described for MLflow: raw uint8 images ``(-1, H, W, C)`` and integer labels, the split sizes
    and the number of classes as its profile; ``source`` is a path or a ``tuner:<task>/<source>`` name."""
    schema = TensorDatasetSchema(
        features=Schema([TensorSpec(np.dtype(data.x_train.dtype), (-1, *data.input_shape), "images")]),
        targets=Schema([TensorSpec(np.dtype(data.y_train.dtype), (-1,), "labels")]),
    )
    profile = {"train": len(data.x_train), "validation": len(data.x_val), "test": len(data.x_test),
               "test_labelled": data.y_test is not None, "classes": data.n_classes}
    entity = MlflowDataset(name=name, digest=digest[:36], source_type="local", source=json.dumps({"uri": source}),
                           schema=json.dumps(schema.to_dict()), profile=json.dumps(profile))
    return DatasetInput(entity, tags=[InputTag(CONTEXT_TAG, context)])
