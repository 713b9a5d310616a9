"""Stratified, seeded train / validation / test splits."""

from __future__ import annotations

import pandas as pd

from forgeml.errors import DataError


def split_table(
    table: pd.DataFrame, target: str, test_size: float, val_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split into train, validation and test frames, each keeping the class proportions.

    ``test_size`` and ``val_size`` are fractions of the whole table.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1 or not 0 < val_size < 1 or test_size + val_size >= 1:
        raise DataError(
            f"split.test_size ({test_size}) and split.val_size ({val_size}) must be fractions "
            "in (0, 1) that add up to less than 1."
        )
    try:
        rest, test = train_test_split(table, test_size=test_size, stratify=table[target], random_state=seed)
        train, val = train_test_split(
            rest, test_size=val_size / (1 - test_size), stratify=rest[target], random_state=seed
        )
    except ValueError as error:  # scikit-learn's message on classes too small to stratify
        counts = table[target].value_counts().to_dict()
        raise DataError(
            f"Cannot make a stratified split of {len(table)} rows with class counts {counts}: {error}"
        ) from error
    return tuple(frame.reset_index(drop=True) for frame in (train, val, test))
