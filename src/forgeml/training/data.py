"""What candidates train on (``TrainingData``), its splits on the training device (``TensorSplits``), and ``fit`` on
them with the candidates' batching.

A split sits on the device whole when the train and validation inputs, as the models take them, fit the candidate's
``resident_mb`` (``ResidentSplit``: no loader for the device to wait on, the fastest for the bundled experiments);
a larger one is read a batch at a time from the array the data stage kept (memory-mapped from ``tensors.npz``) by a
torch DataLoader, which makes the models' inputs from each batch in ``loader_workers`` processes (``LoadedSplit``),
so memory is bounded by the batch. Both hand out batches, their first rows and the statistics the models' input
layers are fitted on, so the rest of training does not ask which one it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from forgeml.training.loop import TensorBatches, TrainConfig, fit, resolve_device

STATISTICS_BATCH = 4096  # rows per pass when summing the input statistics: bounds the float64 copy


@dataclass(frozen=True)
class TrainingData:
    """What every candidate of a run trains on, handed around as one: the train and validation splits as frames
    (their labels; the raw inputs scikit-learn references fit), the same splits as the data stage keeps them for
    the models (``tensors``, made once) and the modality (forgeml.modality) that says how to read both."""

    modality: Any
    train: pd.DataFrame
    val: pd.DataFrame
    tensors: dict[str, np.ndarray]

    def labels(self, split: str) -> np.ndarray:
        return getattr(self, split)[self.modality.target].to_numpy()

    def on(self, config: TrainConfig) -> "TensorSplits":
        """The splits on ``config``'s device, whole if their training inputs fit ``config.resident_mb``."""
        device = resolve_device(config.device)
        classes = np.unique(self.labels("train"))  # sorted: a label's index is where it sorts among them
        labels = {split: np.searchsorted(classes, self.labels(split)).astype(np.int64) for split in ("train", "val")}
        kept = {split: self.tensors[split] for split in ("train", "val")}
        to_inputs = self.modality.training_inputs
        shape = tuple(kept["train"].shape[1:])
        row_bytes = to_inputs(kept["train"][:1]).nbytes
        if row_bytes * sum(len(array) for array in kept.values()) <= config.resident_mb * 2**20:
            splits = {name: ResidentSplit(torch.as_tensor(to_inputs(array)).to(device),
                                          torch.from_numpy(labels[name]).to(device)) for name, array in kept.items()}
        else:
            splits = {name: LoadedSplit(array, labels[name], to_inputs, device, config.loader_workers)
                      for name, array in kept.items()}
        return TensorSplits(splits["train"], splits["val"], classes, shape, device)


@dataclass(frozen=True)
class Moments:
    """Per-position mean and mean square of a split's inputs (shaped like one row) over ``count`` rows, summed a
    batch at a time in float64: the statistics input layers are fitted on, without the split in memory."""

    count: int
    mean: torch.Tensor
    square: torch.Tensor

    @classmethod
    def of(cls, batches: Iterable[torch.Tensor]) -> "Moments":
        count, total, squares = 0, 0.0, 0.0
        for batch in batches:
            batch = batch.double()
            count, total, squares = count + len(batch), total + batch.sum(0), squares + batch.square().sum(0)
        return cls(count, (total / count).cpu(), (squares / count).cpu())

    def pooled(self, dims: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 mean and standard deviation (with Bessel's correction, as ``torch.std``) over the rows and the
        row ``dims`` (kept as size 1): ``()`` per position, ``(1, 2)`` per channel of an image."""
        mean, square, count = self.mean, self.square, self.count
        if dims:  # torch reduces every dimension for an empty tuple
            mean, square = mean.mean(dims, keepdim=True), square.mean(dims, keepdim=True)
            count *= int(np.prod([self.mean.shape[d] for d in dims]))
        variance = (square - mean.square()).clamp_min(0) * count / max(count - 1, 1)
        return mean.float(), variance.sqrt().float()


@dataclass(frozen=True)
class WholeMoments:
    """The statistics of ``inputs`` held whole, as torch computes them in one pass: the numbers a split on the device
    was always standardized with, so a small experiment trains exactly as before the loader existed."""

    inputs: torch.Tensor

    def pooled(self, dims: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """As ``Moments.pooled``."""
        over = (0, *(dim + 1 for dim in dims))
        return self.inputs.mean(over, keepdim=True)[0], self.inputs.std(over, keepdim=True)[0]


class ResidentSplit:
    """A split's inputs and label indices whole on the training device."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor):
        self.inputs, self.labels = inputs, labels

    @property
    def rows(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False) -> TensorBatches:
        return TensorBatches(self.inputs, self.labels, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)

    def head(self, rows: int) -> torch.Tensor:
        """The inputs of the first ``rows`` rows (a calibration set, a sample input), on the device."""
        return self.inputs[:rows]

    def moments(self) -> WholeMoments:
        return WholeMoments(self.inputs)


class _KeptRows(Dataset):
    """Rows of a kept array as the models' inputs, fetched a batch of indices at a time (one read, one conversion
    per batch rather than per row)."""

    def __init__(self, kept: np.ndarray, labels: np.ndarray, to_inputs: Callable[[np.ndarray], np.ndarray]):
        self.kept, self.labels, self.to_inputs = kept, labels, to_inputs

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.sort(rows)  # a memory-mapped array reads in file order; the order within a batch does not matter
        return torch.from_numpy(np.ascontiguousarray(self.to_inputs(self.kept[rows]))), torch.from_numpy(self.labels[rows])


class LoadedSplit:
    """A split read from its kept array a batch at a time by a DataLoader, in ``workers`` processes (0: this one),
    into pinned memory on CUDA so that the copy to the device overlaps the step."""

    def __init__(self, kept: np.ndarray, labels: np.ndarray, to_inputs, device: torch.device, workers: int):
        self.rows_of, self.device, self.workers = _KeptRows(kept, labels, to_inputs), device, workers

    @property
    def rows(self) -> int:
        return len(self.rows_of)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False) -> DataLoader:
        order = RandomSampler(self.rows_of, generator=torch.Generator().manual_seed(seed)) if shuffle \
            else SequentialSampler(self.rows_of)
        return DataLoader(self.rows_of, sampler=BatchSampler(order, batch_size, drop_last), batch_size=None,
                          num_workers=self.workers, persistent_workers=self.workers > 0,
                          pin_memory=self.device.type == "cuda")

    def head(self, rows: int) -> torch.Tensor:
        return self.rows_of[list(range(min(rows, self.rows)))][0].to(self.device)

    def moments(self) -> Moments:
        return Moments.of(inputs for inputs, _ in self.batches(STATISTICS_BATCH))


@dataclass
class TensorSplits:
    """The train and validation splits on the training device (``ResidentSplit`` or ``LoadedSplit``), labels as
    indices into the sorted training ``classes``; ``shape`` is one row's input shape."""

    train: ResidentSplit | LoadedSplit
    val: ResidentSplit | LoadedSplit
    classes: np.ndarray
    shape: tuple[int, ...]
    device: Any


def fit_on(module, data: TensorSplits, config: TrainConfig, **fit_options):
    """``fit`` on the splits, with the candidates' batching (a ragged last training batch dropped)."""
    train_batches = data.train.batches(config.batch_size, shuffle=True, seed=config.seed,
                                       drop_last=data.train.rows > config.batch_size)
    return fit(module, train_batches, data.val.batches(max(config.batch_size, 1024)), config, **fit_options)
