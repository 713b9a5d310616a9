"""A user's CSV or Parquet table as an experiment's source, read a batch at a time: the data stage's memory is then
bounded by the batch, whatever the file's size."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import pandas as pd
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from forgeml.data.batches import BATCH_ROWS, Batches
from forgeml.data.sources import read_errors


class TableFileDataset(AbstractDataset[pd.DataFrame, Batches]):
    """Loads a CSV (UTF-8, a header row) or Parquet file as ``Batches`` of up to ``BATCH_ROWS`` rows, read from the
    file each time the table is read (pandas' chunked CSV reader, pyarrow's Parquet batches). A CSV's rows are
    counted on load by the same reader, one column parsed.

    Example catalog entry (what ``forgeml init`` writes for a table)::

        source:
          type: forgeml.datasets.TableFileDataset
          filepath: data/01_raw/churn.csv
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath, self.metadata = PurePosixPath(filepath), metadata  # _filepath: what DVC and retrain hash

    def load(self) -> Batches:
        path = Path(self._filepath)
        with read_errors(path):
            if path.suffix == ".parquet":
                return Batches(pq.ParquetFile(path).metadata.num_rows, lambda columns: _parquet_batches(path, columns))
            rows = sum(len(chunk) for chunk in pd.read_csv(path, usecols=[0], chunksize=BATCH_ROWS))
        return Batches(rows, lambda columns: _csv_batches(path, columns))

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError(f"{self._filepath} is the experiment's source: ForgeML reads it and never writes it.")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return Path(self._filepath).exists()


def _parquet_batches(path: Path, columns) -> Iterator[pd.DataFrame]:
    # pre_buffer (pyarrow's default) reads ahead every row group's columns and holds them: the whole file by the end
    with read_errors(path), pq.ParquetFile(path, pre_buffer=False) as file:
        if not file.metadata.num_rows:  # no batch to yield: its columns, no rows
            yield file.schema_arrow.empty_table().select(columns or file.schema_arrow.names).to_pandas()
        for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            yield batch.to_pandas()


def _csv_batches(path: Path, columns) -> Iterator[pd.DataFrame]:
    with read_errors(path):
        chunks = pd.read_csv(path, usecols=columns, chunksize=BATCH_ROWS)
        empty = True
        for chunk in chunks:
            empty = False
            yield chunk
        if empty:  # a header without rows: its columns
            yield pd.read_csv(path, usecols=columns, nrows=0)
