"""Ingest, validate and split: nothing reaches training unless every expectation holds."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.data import prepare_table, split_table
from forgeml.errors import ConfigError
from forgeml.validation import check_passed, validate_splits, validate_table

DOCS_PATH = "data/08_reporting/{experiment}/validation/{name}.html"  # where the catalog writes each Data Docs page


def suite_for(experiment: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    suites = validation.get("suites") or {}
    if experiment["name"] not in suites:
        raise ConfigError(
            f"No expectation suite for experiment {experiment['name']!r} under data.validation.suites in "
            f"the parameters (suites exist for: {', '.join(suites) or 'none'}). "
            "`forgeml suggest-suite PATH --target COLUMN` writes a starting suite from a table you trust."
        )
    return suites[experiment["name"]]


def ingest(source_table: pd.DataFrame, experiment: dict[str, Any]) -> pd.DataFrame:
    return prepare_table(source_table, experiment["target"], source="the catalog entry `source_table`")


def check_table(table: pd.DataFrame, experiment: dict[str, Any], validation: dict[str, Any]) -> tuple[dict, str]:
    return validate_table(table, suite_for(experiment, validation), experiment["target"])


def accept_table(table: pd.DataFrame, report: dict, experiment: dict[str, Any]) -> pd.DataFrame:
    check_passed(report, DOCS_PATH.format(experiment=experiment["name"], name=report["name"]))
    return table


def split(table: pd.DataFrame, experiment: dict[str, Any], params: dict[str, Any]):
    return split_table(table, experiment["target"], params["test_size"], params["val_size"], params["seed"])


def check_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any]):
    return validate_splits(train, val, test, experiment["target"])


def accept_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, report: dict, experiment: dict[str, Any]):
    check_passed(report, DOCS_PATH.format(experiment=experiment["name"], name=report["name"]))
    return train, val, test
