"""The data stage's nodes in-process on tiny data, its tables handed on as a batch at a time: what they write is what
the whole tables in memory would give, a failed check writes nothing, and what a duplicates policy drops is counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from forgeml.data import images as images_module
from forgeml.data.images import images_to_table, load_image_folder
from forgeml.datasets import BatchedParquetDataset, VerifiedArraysDataset
from forgeml.errors import DataValidationError
from forgeml.modality import modality_of
from forgeml.pipelines.data.nodes import accept_data, accept_splits, check_data, check_splits, ingest, split

SPLIT = {"test_size": 0.25, "val_size": 0.25, "seed": 0}
IMAGES = {"name": "tiny_images", "target": "label", "modality": "image", "image": {"channels": 3, "size": 8}}
IMAGE_SUITE = {"images": {"channels": 3, "min_size": 4, "max_size": 32}, "labels": ["cat", "dog"], "min_rows_per_class": 2}


def image_folder(root, per_class=12):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(root / label / f"{index}.png")
    return load_image_folder(root, channels=3)


def data_stage(source, experiment, suite, tmp_path, duplicates=None):
    """The data pipeline's nodes in order, ``table`` and the accepted splits through their catalog datasets."""
    validation, duplicates = {"suites": {experiment["name"]: suite}}, duplicates or {}
    ingested = ingest(source, experiment)
    report, _ = check_data(ingested, experiment, validation, duplicates)
    table = BatchedParquetDataset(filepath=str(tmp_path / "table.parquet"), batches=True)
    table.save(accept_data(ingested, report, experiment, duplicates))
    unchecked = split(table.load(), experiment, SPLIT)
    splits_report, _ = check_splits(*unchecked, experiment)
    *accepted, tensors = accept_splits(*unchecked, splits_report, experiment)
    frames = {}
    for name, batches in zip(("train", "val", "test"), accepted):
        dataset = BatchedParquetDataset(filepath=str(tmp_path / f"{name}.parquet"))
        dataset.save(batches)
        frames[name] = dataset.load()
    arrays = VerifiedArraysDataset(filepath=str(tmp_path / "tensors.npz"), dvc_lock=str(tmp_path / "dvc.lock"))
    arrays.save(tensors)
    return report, frames, arrays.load()


def test_an_image_folder_is_split_and_kept_a_batch_at_a_time_as_the_whole_table_would_be(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "IMAGES_PER_BATCH", 5)  # several batches, some with no row of a split
    images = image_folder(tmp_path / "images")
    report, frames, tensors = data_stage(images, IMAGES, IMAGE_SUITE, tmp_path)
    assert report["success"] and report["duplicates"]["rows"] == 24
    modality = modality_of(IMAGES)
    whole = modality.split(images_to_table(images, 8, "label"), SPLIT["test_size"], SPLIT["val_size"], SPLIT["seed"])
    for name, expected in zip(("train", "val", "test"), whole):
        pd.testing.assert_frame_equal(frames[name], expected)
        np.testing.assert_array_equal(tensors[name], modality.kept_tensor(expected))
    assert tensors["train"].dtype == np.uint8 and tensors["train"].shape[1:] == (3, 8, 8)
    assert sum(len(frame) for frame in frames.values()) == 24


def test_a_failed_check_writes_no_table(tmp_path):
    images = image_folder(tmp_path / "images", per_class=3)
    strict = {**IMAGE_SUITE, "min_rows_per_class": 5}
    with pytest.raises(DataValidationError, match="failed"):
        data_stage(images, IMAGES, strict, tmp_path)
    assert not (tmp_path / "table.parquet").exists()


def test_what_the_duplicates_policy_drops_is_counted_and_gone_from_the_splits(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(40, 3)).astype(np.float32), columns=["a", "b", "c"]).assign(y=[0, 1] * 20)
    table = pd.concat([table, table.iloc[:6]], ignore_index=True)  # six exact duplicates
    experiment = {"name": "tiny_table", "target": "y"}
    suite = {"columns": {name: [-10, 10] for name in "abc"}, "labels": [0, 1], "min_rows_per_class": 1}
    report, frames, tensors = data_stage(table, experiment, suite, tmp_path, {"exact": "drop"})
    assert report["duplicates"]["exact_duplicate_rows"] == 6 and report["duplicates"]["dropped"]["exact"] == 6
    kept = pd.concat(frames.values(), ignore_index=True)
    assert len(kept) == 40 and not kept.duplicated().any()
    assert sum(len(array) for array in tensors.values()) == 40 and tensors["train"].dtype == np.float32


def test_a_table_file_is_read_and_checked_a_batch_at_a_time_as_the_whole_table_would_be(tmp_path, monkeypatch):
    from forgeml import modality as modality_module
    from forgeml.datasets import TableFileDataset
    from forgeml.datasets import tables as tables_module

    monkeypatch.setattr(tables_module, "BATCH_ROWS", 7)  # batches of 7 rows, checked in pieces of 16
    monkeypatch.setattr(modality_module, "CHECK_ROWS", 16)
    rng = np.random.default_rng(1)
    table = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"]).assign(y=["no ", "yes"] * 25)
    table.to_csv(tmp_path / "source.csv", index=False)
    experiment = {"name": "tiny_table", "target": "y"}
    suite = {"columns": {name: [-10, 10] for name in "abc"}, "labels": ["no", "yes"], "min_rows_per_class": 1}
    report, frames, tensors = data_stage(TableFileDataset(filepath=str(tmp_path / "source.csv")).load(), experiment,
                                         suite, tmp_path)
    assert report["success"] and report["rows"] == 50 and report["duplicates"]["rows"] == 50
    whole = modality_of(experiment).split(table.assign(y=table["y"].str.strip()), SPLIT["test_size"], SPLIT["val_size"],
                                          SPLIT["seed"])
    for name, expected in zip(("train", "val", "test"), whole):
        pd.testing.assert_frame_equal(frames[name], expected, check_dtype=False)
        np.testing.assert_array_equal(tensors[name], expected[["a", "b", "c"]].to_numpy(np.float32))
