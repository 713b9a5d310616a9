"""Train / validation / test splits decided by each row's content, so they survive real and appended data.

A row's split is a function of the hash of its input (after the normalisation the model sees: float32
features or pixels, case- and blank-folded text) and the split's ``seed``:

- identical inputs always land in the same split, so duplicates (even with conflicting labels) never leak
  from train into a held-out split: the leakage check passes by construction;
- appending rows never moves an old one, so a retrain's test split holds no row the champion trained on
  unless it was in the champion's test split too, and new rows spread by the same rule.

The price is that splits are not stratified: each split's class mix is the table's up to sampling noise.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
import pandas as pd

from forgeml.errors import DataError


def content_keys(rows: Iterable) -> pd.Series:
    """A SHA-1 per row of the models' inputs: the bytes of a numeric row, or the UTF-8 of a (normalised) string."""
    encoded = (row.encode() if isinstance(row, str) else np.ascontiguousarray(row).tobytes() for row in rows)
    return pd.Series([hashlib.sha1(row).hexdigest() for row in encoded], dtype=object)


def _position(key: str, seed: int) -> float:
    """Where a key falls in [0, 1), the same on every machine and in every run with this seed."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_table(
    table: pd.DataFrame, keys: pd.Series, target: str, test_size: float, val_size: float, seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``table`` as train, validation and test (``split_masks`` of its keys and labels)."""
    masks = split_masks(keys, table[target], test_size, val_size, seed)
    return tuple(table[mask].reset_index(drop=True) for mask in masks)


def split_masks(keys: pd.Series, labels: pd.Series, test_size: float, val_size: float,
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rows are train, validation and test, by the position of each row's key (``content_keys``).

    ``test_size`` and ``val_size`` are the expected fractions of the whole table. Raises DataError when a
    class of the table (``labels``: a label per row) has no training row."""
    if not 0 < test_size < 1 or not 0 < val_size < 1 or test_size + val_size >= 1:
        raise DataError(
            f"split.test_size ({test_size}) and split.val_size ({val_size}) must be fractions "
            "in (0, 1) that add up to less than 1."
        )
    position = np.array([_position(key, seed) for key in keys])
    test, val = position < test_size, (position >= test_size) & (position < test_size + val_size)
    train = ~(test | val)
    labels = pd.Series(labels).reset_index(drop=True)
    missing = sorted(set(map(str, labels)) - set(map(str, labels[train])))
    if missing:
        counts = labels.value_counts().to_dict()
        raise DataError(f"No training row of class(es) {', '.join(missing)} in a split of {len(labels)} rows "
                        f"(class counts {counts}): add rows of those classes, or change data.split.seed.")
    return train, val, test
