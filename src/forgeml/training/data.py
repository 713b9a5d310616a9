"""What candidates train on (``TrainingData``), its splits as tensors on the training device, and ``fit`` on them
with the candidates' batching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


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

    def on(self, device) -> "TensorSplits":
        inputs = {split: self.modality.training_inputs(self.tensors[split]) for split in ("train", "val")}
        return TensorSplits.on(device, inputs, self.labels("train"), self.labels("val"))


@dataclass
class TensorSplits:
    """The train and validation splits as tensors on the training device, labels as class indices."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    classes: np.ndarray
    shape: tuple[int, ...]
    device: Any

    @classmethod
    def on(cls, device, inputs: dict[str, np.ndarray], train_labels, val_labels) -> "TensorSplits":
        """The models' inputs of train and val, labels as indices into the sorted training classes. Small data
        sets sit on the device whole: no loader for the GPU to wait on."""
        import torch

        classes = np.unique(train_labels)
        to_index = {label: i for i, label in enumerate(classes)}
        x_train, x_val = torch.as_tensor(inputs["train"]), torch.as_tensor(inputs["val"])
        return cls(
            x_train.to(device), torch.as_tensor([to_index[v] for v in train_labels]).to(device),
            x_val.to(device), torch.as_tensor([to_index[v] for v in val_labels]).to(device),
            classes, tuple(x_train.shape[1:]), device,
        )


def fit_on(module, data: TensorSplits, config, **fit_options):
    """``fit`` on the splits, with the candidates' batching (a ragged last training batch dropped)."""
    from forgeml.training.loop import TensorBatches, fit

    train_batches = TensorBatches(data.x_train, data.y_train, config.batch_size, shuffle=True, seed=config.seed,
                                  drop_last=len(data.y_train) > config.batch_size)
    return fit(module, train_batches, TensorBatches(data.x_val, data.y_val, max(config.batch_size, 1024)), config,
               **fit_options)
