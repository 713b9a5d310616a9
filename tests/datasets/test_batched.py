"""A Parquet file written a row group per batch and read back a row group at a time, or whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from kedro.io import DatasetError

from forgeml.data.batches import Batches
from forgeml.datasets import BatchedParquetDataset

FRAME = pd.DataFrame({"pixels": [bytes([i]) * 3 for i in range(10)], "label": list("abcdeabcde"), "x": np.arange(10.0)})


def test_batches_are_written_a_row_group_each_and_read_back_one_at_a_time(tmp_path):
    path = tmp_path / "data" / "table.parquet"
    BatchedParquetDataset(filepath=str(path)).save(Batches.of(FRAME, batch_rows=4))
    assert pq.ParquetFile(path).num_row_groups == 3
    batches = BatchedParquetDataset(filepath=str(path), batches=True).load()
    assert len(batches) == 10 and [len(batch) for batch in batches] == [4, 4, 2]
    pd.testing.assert_frame_equal(batches.frame(), FRAME)
    assert batches.frame("label").columns.tolist() == ["label"]
    pd.testing.assert_frame_equal(BatchedParquetDataset(filepath=str(path)).load(), FRAME)  # whole, as later stages read it


def test_a_write_that_fails_leaves_the_previous_file_as_it_was(tmp_path):
    path = tmp_path / "table.parquet"
    dataset = BatchedParquetDataset(filepath=str(path))
    dataset.save(FRAME)

    def failing(columns):
        yield FRAME.iloc[:4]
        raise OSError("the source went away")

    with pytest.raises(DatasetError, match="went away"):  # Kedro wraps the error, message and all
        dataset.save(Batches(10, failing))
    pd.testing.assert_frame_equal(dataset.load(), FRAME)
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]  # no partial file left behind


def test_a_table_without_rows_keeps_its_columns(tmp_path):
    dataset = BatchedParquetDataset(filepath=str(tmp_path / "empty.parquet"), batches=True)
    dataset.save(Batches.of(FRAME).where(np.zeros(10, bool)))
    loaded = dataset.load()
    assert len(loaded) == 0 and loaded.frame().columns.tolist() == ["pixels", "label", "x"]
