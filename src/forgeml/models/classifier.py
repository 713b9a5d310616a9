"""A trained torch module plus the labels its outputs stand for, with scikit-learn's predict API."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchClassifier:
    """Wraps a module mapping raw features to logits; runs on the CPU in eval mode."""

    def __init__(self, module: nn.Module, classes: np.ndarray):
        self.module = module.cpu().eval()
        self.classes_ = np.asarray(classes)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.module(torch.tensor(np.asarray(features, dtype=np.float32)))
            return torch.softmax(logits, dim=1).numpy()

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]
