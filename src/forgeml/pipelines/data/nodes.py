"""Ingest, validate, split and turn into tensors: nothing reaches training unless every expectation holds.

The experiment's modality (forgeml.modality) says how its raw data is read and what its suite checks:
a table's rows, an image folder's files, a text table's texts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.duplicates import resolve_duplicates
from forgeml.modality import modality_of
from forgeml.validation import add_duplicate_counts, check_passed, suite_for, validate_splits


def ingest(source, experiment: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return modality_of(experiment).ingest(source)


def check_data(checked: pd.DataFrame, table: pd.DataFrame, experiment: dict[str, Any], validation: dict[str, Any],
               duplicates: dict[str, Any]) -> tuple[dict, str]:
    """The suite's report and Data Docs, with the table's repeated inputs counted (and what the policy drops)."""
    modality = modality_of(experiment)
    report, html = modality.validate(checked, suite_for(experiment, validation))
    _, counts = resolve_duplicates(table, modality.input_keys(table), experiment["target"], duplicates)
    return add_duplicate_counts(report, html, counts)


def accept_data(table: pd.DataFrame, report: dict, experiment: dict[str, Any], duplicates: dict[str, Any]) -> pd.DataFrame:
    """The table, once its check passed, as the duplicates policy leaves it."""
    check_passed(report, experiment["name"], "data")
    modality = modality_of(experiment)
    return resolve_duplicates(table, modality.input_keys(table), experiment["target"], duplicates)[0]


def split(table: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any]):
    """Each row's split follows from its input's hash (forgeml.data.split): identical inputs share one."""
    return modality_of(experiment).split(table, params["test_size"], params["val_size"], params["seed"])


def check_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any]):
    modality = modality_of(experiment)
    return validate_splits({name: modality.input_keys(frame) for name, frame in (("train", train), ("val", val), ("test", test))})


def accept_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, report: dict, experiment: dict[str, Any]):
    check_passed(report, experiment["name"], "splits")
    return train, val, test


def to_tensors(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each split as the models' input array (features, pixels as images, or token ids and masks): made
    once and persisted, so no training run tokenizes or reshapes again."""
    return modality_of(experiment).tensors({"train": train, "val": val, "test": test})
