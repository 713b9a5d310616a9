"""Text tables: checks on a user's table of texts and labels."""

from __future__ import annotations

import pandas as pd

from forgeml.data.sources import strip_labels
from forgeml.errors import DataError


def prepare_texts(table: pd.DataFrame, text_column: str, target: str, source: str = "the source table") -> pd.DataFrame:
    """The text and label columns of ``table``, texts and labels stripped of surrounding blanks; every row kept.

    Raises DataError naming a missing column. Empty texts stay, for the validation to name them.
    """
    missing = [column for column in (text_column, target) if column not in table.columns]
    if missing:
        raise DataError(
            f"{source} has no column {', '.join(map(repr, missing))}; its columns: {', '.join(map(str, table.columns))}. "
            "Set `experiment.text.column` and `experiment.target` to the columns holding the texts and the labels."
        )
    if table.empty:
        raise DataError(f"{source} has no rows: point it at a table with texts.")
    texts = table[[text_column, target]].copy()
    texts[text_column] = texts[text_column].fillna("").astype(str).str.strip()
    texts[target] = strip_labels(texts[target], source)
    return texts.reset_index(drop=True)
