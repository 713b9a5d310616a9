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


def test_a_module_compiled_per_shape_compiles_for_one_row_and_a_full_batch_whatever_the_row_counts():
    """Static INT8 compiles for each input shape: padded to the batch size, 110, 300 and 40 rows take one compile
    and one row another, and the padding changes no row's scores."""
    from torch._dynamo.utils import counters

    from forgeml.compression.quantization import QuantizationPlan, quantize

    torch.manual_seed(0)
    features = np.random.default_rng(1).normal(size=(300, 3)).astype(np.float32)
    module = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
    int8 = quantize(module, QuantizationPlan("static", "per_tensor"), torch.from_numpy(features), dynamic_shapes=False)
    classifier = TorchClassifier(int8, np.array(["no", "yes"]))
    graphs = counters["stats"]["unique_graphs"]

    scored = {rows: classifier.predict_proba(features[:rows]) for rows in (110, 300, 40)}
    assert counters["stats"]["unique_graphs"] - graphs == 1
    one_row = classifier.predict_proba(features[:1])
    assert counters["stats"]["unique_graphs"] - graphs == 2
    np.testing.assert_allclose(scored[110], scored[300][:110], atol=1e-6)
    np.testing.assert_allclose(scored[40], scored[300][:40], atol=1e-6)
    np.testing.assert_allclose(one_row, scored[300][:1], atol=1e-4)
