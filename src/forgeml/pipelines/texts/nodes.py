"""Ingest, validate, split and tokenize a text table: the data stage of a text experiment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.pipelines.data.nodes import suite_for


def ingest_texts(source_table: pd.DataFrame, experiment: dict[str, Any]) -> pd.DataFrame:
    from forgeml.text.data import prepare_texts

    return prepare_texts(source_table, experiment["text"]["column"], experiment["target"],
                         source="the catalog entry `source_table`")


def check_texts(table: pd.DataFrame, experiment: dict[str, Any], validation: dict[str, Any]) -> tuple[dict, str]:
    from forgeml.validation import validate_texts

    return validate_texts(table, suite_for(experiment, validation), experiment["text"]["column"], experiment["target"])


def tokenize_splits(train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, experiment: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each split's token ids and masks, with the pretrained model's tokenizer: persisted, so training
    runs never tokenize again (DVC re-runs this only when the splits or the settings change)."""
    from forgeml.text import load_tokenizer, tokenize

    text = experiment["text"]
    tokenizer = load_tokenizer(text["tokenizer"])
    return {name: tokenize(split[text["column"]], tokenizer, int(text["max_length"]), text.get("head_tokens"))
            for name, split in {"train": train, "val": val, "test": test}.items()}
