"""Ingest, validate, split and turn into tensors: nothing reaches training unless every expectation holds.

The experiment's modality (forgeml.modality) says how its raw data is read and what its suite checks:
a table's rows, an image folder's files, a text table's texts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.data import split_table
from forgeml.modality import modality_of
from forgeml.validation import check_passed, suite_for, validate_splits


def ingest(source, experiment: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return modality_of(experiment).ingest(source)


def check_data(checked: pd.DataFrame, experiment: dict[str, Any], validation: dict[str, Any]) -> tuple[dict, str]:
    return modality_of(experiment).validate(checked, suite_for(experiment, validation))


def accept_data(table: pd.DataFrame, report: dict, experiment: dict[str, Any]) -> pd.DataFrame:
    check_passed(report, experiment["name"], "data")
    return table


def split(table: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any]):
    return split_table(table, experiment["target"], params["test_size"], params["val_size"], params["seed"])


def check_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any]):
    return validate_splits(train, val, test, experiment["target"])


def accept_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, report: dict, experiment: dict[str, Any]):
    check_passed(report, experiment["name"], "splits")
    return train, val, test


def to_tensors(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each split as the models' input array (features, pixels as images, or token ids and masks): made
    once and persisted, so no training run tokenizes or reshapes again."""
    return modality_of(experiment).tensors({"train": train, "val": val, "test": test})
