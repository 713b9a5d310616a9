"""Tables read or made a batch at a time, so that a stage's memory is bounded by the batch and not the data set.

``Batches`` is a table of a known number of rows that yields its rows as DataFrames of at most ``BATCH_ROWS``,
as often as it is iterated: from a Parquet file's row groups (forgeml.datasets.BatchedParquetDataset), from images
decoded one batch at a time (forgeml.data.images), or from a frame already in memory. ``where`` keeps rows by a
mask over the whole table, still a batch at a time; ``arrays`` turns each batch into an array (what the
models take), which forgeml.datasets.VerifiedArraysDataset writes without holding the whole array.

Only what is small stays whole: a column of labels, a content key per row, a mask. A reader for data no single
machine holds (a Spark or Ray Data scan) would plug in as another ``read``; see docs/data-at-scale.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

BATCH_ROWS = 65_536  # rows of a table per batch: 8 MB of 30 float32 features; images come 256 at a time


@dataclass(frozen=True, eq=False)  # compared by identity: a table is not its rows
class Batches:
    """``rows`` rows, read by ``read(columns)`` as DataFrames a batch at a time (only ``columns`` when given)."""

    rows: int
    read: Callable[[Sequence[str] | None], Iterator[pd.DataFrame]]
    held: pd.DataFrame | None = None  # the whole table, when it is one already in memory

    @classmethod
    def of(cls, frame: pd.DataFrame, batch_rows: int = BATCH_ROWS) -> "Batches":
        """A frame in memory, yielded in slices (views: no copy)."""
        def read(columns):
            chosen = frame if columns is None else frame[list(columns)]
            yield from (chosen.iloc[begin:begin + batch_rows] for begin in range(0, max(len(frame), 1), batch_rows))

        return cls(len(frame), read, frame)

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self.read(None)

    def frame(self, *columns: str) -> pd.DataFrame:
        """The whole table (only ``columns`` when given) in memory: for what is small, or must be whole."""
        if self.held is not None:  # no copy of a table already whole (pandas copies on write)
            return self.held[list(columns)] if columns else self.held
        return pd.concat(list(self.read(list(columns) if columns else None)), ignore_index=True)

    def frames(self, *columns: str, rows: int) -> Iterator[pd.DataFrame]:
        """The table (only ``columns`` when given) as frames of ``rows`` rows, the last one shorter: for work with a
        cost per call (a Great Expectations run), on fewer, larger pieces than the batches."""
        pending, held = [], 0
        for batch in self.read(list(columns) if columns else None):
            pending.append(batch)
            held += len(batch)
            while held >= rows:
                joined = pd.concat(pending, ignore_index=True)
                yield joined.iloc[:rows]
                pending, held = [joined.iloc[rows:]], held - rows
        if held or not self.rows:
            yield pd.concat(pending, ignore_index=True)

    def map(self, per_batch: Callable[[pd.DataFrame], pd.DataFrame]) -> "Batches":
        """Each batch as ``per_batch`` changes it, row for row (checked, renamed, cleaned), when it is read."""
        return Batches(self.rows, lambda columns: (per_batch(batch) for batch in self.read(columns)))

    def where(self, keep: np.ndarray) -> "Batches":
        """The rows where ``keep`` (a mask over the whole table) is true, renumbered from 0."""
        keep = np.asarray(keep, dtype=bool)
        if len(keep) != self.rows:
            raise ValueError(f"A mask of {len(keep)} rows for a table of {self.rows}.")

        def read(columns):
            begin, empty = 0, None
            for batch in self.read(columns):
                chosen = keep[begin:begin + len(batch)]
                begin += len(batch)
                if chosen.any():
                    yield batch[chosen].reset_index(drop=True)
                elif empty is None:
                    empty = batch.iloc[:0]
            if not keep.any() and empty is not None:  # no row kept: its columns still
                yield empty

        return Batches(int(keep.sum()), read)

    def arrays(self, per_batch: Callable[[pd.DataFrame], np.ndarray]) -> "ArrayBatches":
        """Each batch as the array ``per_batch`` makes of it, a row per row."""
        return ArrayBatches(self.rows, lambda: (per_batch(batch) for batch in self))


def as_batches(source: "Batches | pd.DataFrame") -> Batches:
    """A source dataset's table as ``Batches``: as it is when read in batches (forgeml.datasets.TableFileDataset), in
    slices when it is a frame in memory (a bundled data set, Kedro's pandas datasets)."""
    return source if isinstance(source, Batches) else Batches.of(source)


@dataclass(frozen=True)
class ArrayBatches:
    """An array of ``rows`` rows, made a batch at a time by ``make()``: what a stage writes without holding it."""

    rows: int
    make: Callable[[], Iterator[np.ndarray]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.make()
