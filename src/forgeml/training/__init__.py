"""The one training loop for every torch model, what candidates train on, and the code that trains a candidate from its spec."""

from forgeml.training.candidates import Candidate, train_candidate
from forgeml.training.data import TrainingData
from forgeml.training.loop import FitResult, TrainConfig, fit, resolve_device, TensorBatches

__all__ = ["Candidate", "FitResult", "TrainConfig", "fit", "resolve_device", "TensorBatches", "TrainingData", "train_candidate"]
