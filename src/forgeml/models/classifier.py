"""A trained torch module plus the labels its outputs stand for, with scikit-learn's predict API."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchClassifier:
    """Wraps a module mapping raw features to logits; runs on the CPU in eval mode, ``batch_size`` rows at a
    time, so that scoring a large test split or request holds one batch's activations, not the whole set's."""

    batch_size = 256  # the largest latency batch of the shipped recipes: an INT8 image model compiles that shape once

    def __init__(self, module: nn.Module, classes: np.ndarray):
        self.module = module.cpu().eval()
        self.classes_ = np.asarray(classes)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        features = np.ascontiguousarray(features, dtype=np.float32)  # a strided batch would compile again
        outputs = [self._probabilities(features[start:start + self.batch_size])
                   for start in range(0, len(features), self.batch_size)]
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.classes_)), np.float32)

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        """A module compiled for each input shape (forgeml.models.program.QuantizedModule) takes batches of 2 to
        ``batch_size`` rows padded with zeros to ``batch_size``: it compiles for one row and for a full batch, not
        again for every test split, perturbation or request size. Rows do not mix, so padding changes no score."""
        rows = len(batch)
        if rows > 1 and getattr(self.module, "compiles_per_shape", False):
            batch = np.concatenate([batch, np.zeros((self.batch_size - rows, *batch.shape[1:]), batch.dtype)])
        with torch.inference_mode():
            return torch.softmax(self.module(torch.from_numpy(batch)), dim=1)[:rows].numpy()

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]


class TextClassifier:
    """A token model with its tokenizer: raw strings in, class probabilities out (CPU, eval mode).

    The tokenizer travels with the module (as files in a registered version: forgeml.models.files), so a
    registered version predicts from raw text in a fresh process.
    """

    head_tokens = None  # plain truncation: also what versions pickled before head+tail truncation use

    def __init__(self, module: nn.Module, classes: np.ndarray, tokenizer, max_length: int, head_tokens: int | None = None,
                 batch_size: int = 64):
        self.module = module.cpu().eval()
        self.classes_ = np.asarray(classes)
        self.tokenizer, self.max_length, self.head_tokens, self.batch_size = tokenizer, int(max_length), head_tokens, batch_size

    def predict_proba(self, texts) -> np.ndarray:
        from forgeml.text.tokenization import tokenize

        texts = [str(text) for text in np.asarray(texts, dtype=object).ravel()]
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = torch.from_numpy(tokenize(texts[start:start + self.batch_size], self.tokenizer, self.max_length,
                                                  self.head_tokens))
                outputs.append(torch.softmax(self.module(tokens).float(), dim=1).numpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.classes_)), np.float32)

    def predict(self, texts) -> np.ndarray:
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]
