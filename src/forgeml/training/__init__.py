"""The one training loop for every torch model, the splits as tensors, and the code that trains a candidate from its spec."""

from forgeml.training.candidates import train_candidate
from forgeml.training.loop import FitResult, TrainConfig, fit, resolve_device, TensorBatches

__all__ = ["FitResult", "TrainConfig", "fit", "resolve_device", "TensorBatches", "train_candidate"]
