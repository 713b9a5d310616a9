"""A user's CSV or Parquet source read a batch at a time, and refused with its name when it cannot be read."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from forgeml.datasets import TableFileDataset
from forgeml.datasets import tables as tables_module
from forgeml.errors import DataError

TABLE = pd.DataFrame({"x": [float(i) for i in range(10)], "note": ["a", "b\nwith a line break", *"cdefghij"[:8]]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_csv_or_parquet_file_is_read_in_batches_with_only_the_columns_asked(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(tables_module, "BATCH_ROWS", 4)
    path = tmp_path / f"source{suffix}"
    TABLE.to_csv(path, index=False) if suffix == ".csv" else TABLE.to_parquet(path)
    table = TableFileDataset(filepath=str(path)).load()
    assert len(table) == 10 and [len(batch) for batch in table] == [4, 4, 2]  # a quoted line break is one row
    pd.testing.assert_frame_equal(table.frame(), TABLE)
    assert [batch.columns.tolist() for batch in table.read(["x"])] == [["x"]] * 3


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_without_rows_keeps_its_columns(tmp_path, suffix):
    path = tmp_path / f"source{suffix}"
    TABLE.head(0).to_csv(path, index=False) if suffix == ".csv" else TABLE.head(0).to_parquet(path)
    table = TableFileDataset(filepath=str(path)).load()
    assert len(table) == 0 and table.frame().columns.tolist() == ["x", "note"]


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", r"empty\.csv cannot be read as a CSV table"),
    ("latin1.csv", "x,note\n1,caf\xe9\n".encode("latin-1"), r"latin1\.csv is not UTF-8 text"),
    ("broken.parquet", b"PAR1 not really a parquet file", r"broken\.parquet cannot be read as a Parquet table"),
])
def test_a_file_that_is_not_a_table_is_refused_naming_it(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises((DataError, DatasetError), match=message):  # Kedro wraps what a load raises
        TableFileDataset(filepath=str(tmp_path / name)).load().frame()


def test_the_source_is_never_written(tmp_path):
    with pytest.raises(DatasetError, match="never writes it"):
        TableFileDataset(filepath=str(tmp_path / "source.csv")).save(TABLE)
