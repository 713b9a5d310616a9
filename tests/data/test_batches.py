"""Tables a batch at a time: slices of a frame, rows kept by a mask over the whole table, arrays made per batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.data.batches import Batches

FRAME = pd.DataFrame({"x": np.arange(10), "y": list("ababababab")})


def test_a_frame_is_read_in_slices_and_whole_with_only_the_columns_asked():
    batches = Batches.of(FRAME, batch_rows=4)
    assert len(batches) == 10 and [len(batch) for batch in batches] == [4, 4, 2]
    pd.testing.assert_frame_equal(batches.frame(), FRAME)
    assert batches.frame("y").columns.tolist() == ["y"]
    assert [batch.columns.tolist() for batch in batches.read(["x"])] == [["x"]] * 3


def test_batches_are_joined_into_frames_of_the_rows_asked_and_changed_as_they_are_read():
    batches = Batches.of(FRAME, batch_rows=3)
    frames = list(batches.frames("x", rows=4))
    assert [len(frame) for frame in frames] == [4, 4, 2] and frames[0].columns.tolist() == ["x"]
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), FRAME[["x"]])
    assert [len(frame) for frame in Batches.of(FRAME.iloc[:0]).frames(rows=4)] == [0]  # an empty table: one empty frame
    doubled = batches.map(lambda batch: batch.assign(x=batch["x"] * 2))
    assert len(doubled) == 10 and doubled.frame()["x"].tolist() == [2 * x for x in range(10)]


def test_rows_are_kept_by_a_mask_over_the_whole_table_batch_after_batch():
    keep = np.zeros(10, bool)
    keep[[1, 2, 9]] = True  # none of the second batch
    kept = Batches.of(FRAME, batch_rows=4).where(keep)
    assert len(kept) == 3 and [len(batch) for batch in kept] == [2, 1]  # a batch with no row kept is skipped
    pd.testing.assert_frame_equal(kept.frame(), FRAME[keep].reset_index(drop=True))
    none = Batches.of(FRAME, batch_rows=4).where(np.zeros(10, bool))
    assert len(none) == 0 and none.frame().columns.tolist() == ["x", "y"]  # no row, its columns still
    with pytest.raises(ValueError, match="A mask of 3 rows for a table of 10"):
        Batches.of(FRAME).where(np.ones(3, bool))


def test_each_batch_becomes_an_array_and_the_batches_are_read_again_on_each_pass():
    reads = []
    batches = Batches(10, lambda columns: reads.append(columns) or iter([FRAME.iloc[:6], FRAME.iloc[6:]]))
    arrays = batches.arrays(lambda batch: batch[["x"]].to_numpy(np.float32))
    assert arrays.rows == 10 and [len(array) for array in arrays] == [6, 4]
    np.testing.assert_array_equal(np.concatenate(list(arrays))[:, 0], np.arange(10, dtype=np.float32))
    assert reads == [None, None]
