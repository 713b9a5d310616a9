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
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from forgeml.errors import DataError


def content_keys(rows: Iterable) -> pd.Series:
    """A SHA-1 per row of the models' inputs: the bytes of a numeric row, or the UTF-8 of a (normalised) string."""
    encoded = (row.encode() if isinstance(row, str) else np.ascontiguousarray(row).tobytes() for row in rows)
    return pd.Series([hashlib.sha1(row).hexdigest() for row in encoded], dtype=object)


def _position(key: str, seed: int) -> float:
    """Where a key falls in [0, 1), the same on every machine and in every run with this seed."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_positions(keys: Sequence[str], seed: int) -> np.ndarray:
    """Each content key's position in [0, 1) for ``seed``: what ``split_masks`` cuts."""
    return np.fromiter((_position(key, seed) for key in keys), dtype=np.float64, count=len(keys))


def key_digests(keys: Sequence[str]) -> np.ndarray:
    """The first 64 bits of each content key, as uint64: what the duplicates and leakage checks compare, 8 bytes a row
    where the key's text takes about 90. Two different inputs share a digest with a chance below one in a million at
    five million inputs (the birthday bound, n² / 2⁶⁵)."""
    return np.fromiter((int(key[:16], 16) for key in keys), dtype=np.uint64, count=len(keys))


def labels_as_text(labels: pd.Series) -> pd.Categorical:
    """A batch's labels in their common form, text (whatever the batch's type), as a categorical: a byte or two a row."""
    return pd.Categorical(pd.Series(labels).astype(str))


def joined_labels(parts: Sequence[pd.Categorical]) -> pd.Series:
    """The batches' ``labels_as_text`` as one column."""
    return pd.Series(union_categoricals(list(parts)), copy=False)


class DigestsAndLabels:
    """Every row of a table of ``rows`` rows, its key digest and its label as text, added a batch at a time: about
    nine bytes a row in all, whatever the table's width (a batch's keys are let go once digested)."""

    def __init__(self, rows: int):
        self.digests, self.filled, self.labels = np.empty(rows, np.uint64), 0, []

    def add(self, keys: Sequence[str], labels: pd.Series) -> None:
        self.digests[self.filled:self.filled + len(keys)] = key_digests(keys)
        self.filled += len(keys)
        self.labels.append(labels_as_text(labels))

    def joined(self) -> tuple[np.ndarray, pd.Series]:
        if self.filled != len(self.digests):
            raise ValueError(f"{self.filled} rows given for a table of {len(self.digests)}.")
        return self.digests, joined_labels(self.labels)


def digests_and_labels(rows: int, batches: Iterable[tuple[Sequence[str], pd.Series]]) -> tuple[np.ndarray, pd.Series]:
    """``DigestsAndLabels`` of ``rows`` rows, from (content keys, labels) a batch at a time."""
    rows = DigestsAndLabels(rows)
    for keys, labels in batches:
        rows.add(keys, labels)
    return rows.joined()


def split_table(
    table: pd.DataFrame, keys: pd.Series, target: str, test_size: float, val_size: float, seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``table`` as train, validation and test (``split_masks`` of its keys' positions and its labels)."""
    masks = split_masks(split_positions(keys, seed), table[target], test_size, val_size)
    return tuple(table[mask].reset_index(drop=True) for mask in masks)


def split_masks(position: np.ndarray, labels: pd.Series, test_size: float,
                val_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rows are train, validation and test, by each row's key's ``split_positions``.

    ``test_size`` and ``val_size`` are the expected fractions of the whole table. Raises DataError when a
    class of the table (``labels``: a label per row) has no training row."""
    if not 0 < test_size < 1 or not 0 < val_size < 1 or test_size + val_size >= 1:
        raise DataError(
            f"split.test_size ({test_size}) and split.val_size ({val_size}) must be fractions "
            "in (0, 1) that add up to less than 1."
        )
    test, val = position < test_size, (position >= test_size) & (position < test_size + val_size)
    train = ~(test | val)
    labels = pd.Series(labels).reset_index(drop=True)
    missing = sorted(set(map(str, labels.unique())) - set(map(str, labels[train].unique())))
    if missing:
        counts = labels.value_counts().to_dict()
        raise DataError(f"No training row of class(es) {', '.join(missing)} in a split of {len(labels)} rows "
                        f"(class counts {counts}): add rows of those classes, or change data.split.seed.")
    return train, val, test
