"""The splits candidates train on: whole on the device when small, else loaded a batch at a time from the kept
arrays; both give the same rows, the same statistics and a model that learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forgeml.datasets import VerifiedArraysDataset
from forgeml.errors import ConfigError
from forgeml.modality import ImageModality
from forgeml.training import Candidate, TrainConfig, TrainingData, train_candidate
from forgeml.training.data import LoadedSplit, Moments, ResidentSplit

IMAGES = ImageModality({"name": "squares", "target": "label", "image": {"channels": 2, "size": 4}})


def image_data(tmp_path, rows: int = 96) -> TrainingData:
    """Two classes of 2x4x4 8-bit images (dark and bright), kept as the data stage keeps them: memory-mapped."""
    rng = np.random.default_rng(0)
    labels = np.array(["bright", "dark"])[np.arange(rows) % 2]
    pixels = np.where(labels[:, None, None, None] == "bright", 170, 60) + rng.integers(0, 60, (rows, 2, 4, 4))
    dataset = VerifiedArraysDataset(filepath=str(tmp_path / "tensors.npz"), dvc_lock=str(tmp_path / "dvc.lock"))
    cut = rows * 3 // 4
    dataset.save({"train": pixels[:cut].astype(np.uint8), "val": pixels[cut:].astype(np.uint8)})
    frames = {"train": pd.DataFrame({"label": labels[:cut]}), "val": pd.DataFrame({"label": labels[cut:]})}
    return TrainingData(IMAGES, frames["train"], frames["val"], dataset.load())


def test_moments_summed_in_batches_are_torch_s_mean_and_std_per_position_and_per_channel():
    images = torch.rand(50, 3, 4, 4) * 4 + 1
    moments = Moments.of(images.split(7))
    for dims, torch_dims in (((), (0,)), ((1, 2), (0, 2, 3))):
        mean, std = moments.pooled(dims)
        torch.testing.assert_close(mean, images.mean(torch_dims, keepdim=True)[0])
        torch.testing.assert_close(std, images.std(torch_dims, keepdim=True)[0])


def test_splits_within_the_budget_sit_on_the_device_and_larger_ones_are_loaded(tmp_path):
    data = image_data(tmp_path)
    assert isinstance(data.tensors["train"], np.memmap)  # read from the file as rows are used
    whole = data.on(TrainConfig(device="cpu"))
    loaded = data.on(TrainConfig(device="cpu", resident_mb=0))
    assert isinstance(whole.train, ResidentSplit) and isinstance(loaded.train, LoadedSplit)
    assert whole.shape == loaded.shape == (2, 4, 4) and list(whole.classes) == list(loaded.classes) == ["bright", "dark"]
    for split in ("train", "val"):
        in_memory, from_file = getattr(whole, split), getattr(loaded, split)
        assert in_memory.rows == from_file.rows
        torch.testing.assert_close(in_memory.head(5), from_file.head(5))
        for (a, a_labels), (b, b_labels) in zip(in_memory.batches(16), from_file.batches(16), strict=True):
            assert b.dtype == torch.float32 and float(b.max()) <= 1.0  # made from the 8-bit pixels per batch
            torch.testing.assert_close(a, b)
            assert torch.equal(a_labels, b_labels)
        for a, b in zip(in_memory.moments().pooled((1, 2)), from_file.moments().pooled((1, 2))):
            torch.testing.assert_close(a, b)


def test_a_shuffled_loaded_epoch_sees_each_row_once_in_its_seed_s_order_and_workers_give_the_same(tmp_path):
    split = image_data(tmp_path).on(TrainConfig(device="cpu", resident_mb=0)).train
    epoch = [labels for _, labels in split.batches(10, shuffle=True, seed=3)]
    assert [len(labels) for labels in epoch] == [10] * 7 + [2]
    assert sorted(torch.cat(epoch).tolist()) == sorted(split.rows_of.labels.tolist())
    again = [labels for _, labels in split.batches(10, shuffle=True, seed=3)]
    assert all(torch.equal(a, b) for a, b in zip(epoch, again))
    in_a_worker = LoadedSplit(split.rows_of.kept, split.rows_of.labels, IMAGES.training_inputs, torch.device("cpu"), 1)
    for (a, _), (b, _) in zip(split.batches(8), in_a_worker.batches(8), strict=True):
        assert torch.equal(a, b)


def test_a_candidate_trained_through_the_loader_learns(tmp_path):
    spec = {"model": {"family": "mlp", "hidden": [16]},
            "training": {"epochs": 15, "batch_size": 16, "lr": 0.01, "device": "cpu", "resident_mb": 0, "progress": False}}
    classifier, info = train_candidate(Candidate.declared("loaded", spec, IMAGES, seed=0), image_data(tmp_path))
    assert info["training"]["resident_mb"] == 0 and max(info["history"]["val_accuracy"]) == 1.0


@pytest.mark.parametrize("option, value", [("loader_workers", -1), ("loader_workers", 1.5), ("resident_mb", -1)])
def test_loader_options_out_of_range_are_refused(option, value):
    with pytest.raises(ConfigError, match=f"`{option}`"):
        TrainConfig(**{option: value})
