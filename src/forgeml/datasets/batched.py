"""A Parquet file written and read a row group at a time, so no stage holds a table that comes in batches."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset

from forgeml.data.batches import Batches
from forgeml.datasets.replaced import replaced_when_complete


class BatchedParquetDataset(AbstractDataset[Batches | pd.DataFrame, Batches | pd.DataFrame]):
    """Saves a DataFrame, or ``Batches`` a row group per batch; loads the whole table as a DataFrame, or with
    ``batches: true`` as ``Batches`` that read one row group at a time. The file is written beside its place and
    moved there once complete, so a failed write leaves the previous one intact.

    Example catalog entry::

        table:
          type: forgeml.datasets.BatchedParquetDataset
          filepath: data/02_intermediate/${globals:experiment}/table.parquet
          batches: true
    """

    def __init__(self, *, filepath: str, batches: bool = False, metadata: dict[str, Any] | None = None):
        self._filepath, self._batches, self.metadata = PurePosixPath(filepath), batches, metadata  # _filepath: for DVC

    def load(self) -> Batches | pd.DataFrame:
        path = Path(self._filepath)
        if not self._batches:
            return pq.read_table(path).to_pandas()
        rows = pq.ParquetFile(path).metadata.num_rows

        def read(columns):
            with pq.ParquetFile(path) as file:
                if file.num_row_groups == 0:  # an empty table: its columns, no rows
                    yield file.schema_arrow.empty_table().select(columns or file.schema_arrow.names).to_pandas()
                for group in range(file.num_row_groups):
                    yield file.read_row_group(group, columns=columns).to_pandas()

        return Batches(rows, read)

    def save(self, data: Batches | pd.DataFrame) -> None:
        with replaced_when_complete(Path(self._filepath)) as partial:
            _write(data if isinstance(data, Batches) else Batches.of(data), partial)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "batches": self._batches}

    def _exists(self) -> bool:
        return Path(self._filepath).exists()


def _write(batches: Batches, path: Path) -> None:
    """A row group per batch with rows; a table without rows keeps its columns (an empty batch's object columns
    have no type, so one is written only when no batch has rows)."""
    writer, empty = None, None
    try:
        for batch in batches:
            table = pa.Table.from_pandas(batch, preserve_index=False)
            if not len(batch):
                empty = table if empty is None else empty
                continue
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            pq.write_table(empty if empty is not None else pa.table({}), path)
    finally:
        if writer is not None:
            writer.close()
