"""A torch classifier scores any number of rows a batch at a time, with the same answers as all at once."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from forgeml.models import TorchClassifier


class CountingBatches(nn.Module):
    """A linear layer that records the number of rows of each batch it is called on."""

    def __init__(self):
        super().__init__()
        self.linear, self.batches = nn.Linear(3, 2), []

    def forward(self, inputs):
        self.batches.append(len(inputs))
        return self.linear(inputs)


def test_rows_are_scored_a_batch_at_a_time_as_they_would_be_all_at_once():
    torch.manual_seed(0)
    module = CountingBatches()
    features = np.random.default_rng(0).normal(size=(600, 3))
    classifier = TorchClassifier(module, np.array(["no", "yes"]))

    probabilities = classifier.predict_proba(features)

    assert module.batches == [256, 256, 88]
    with torch.no_grad():
        whole = torch.softmax(module.linear(torch.tensor(features, dtype=torch.float32)), dim=1).numpy()
    np.testing.assert_allclose(probabilities, whole, rtol=1e-5, atol=1e-6)
    assert classifier.predict(features[:2]).tolist() == np.array(["no", "yes"])[whole[:2].argmax(1)].tolist()
    assert classifier.predict_proba(features[:0]).shape == (0, 2)
