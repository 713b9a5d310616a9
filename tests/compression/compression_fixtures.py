"""A small trained MLP on breast cancer and a tiny ResNet on digits, shared by the compression tests."""

from __future__ import annotations

import pytest
import torch

from forgeml.modality import ImageModality, TableModality
from forgeml.models import build_model
from forgeml.training import TrainConfig
from forgeml.training.data import ResidentSplit, TensorSplits, fit_on


def _splits(features, labels, shape) -> TensorSplits:
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=generator)
    features, labels = features[order].reshape(-1, *shape), labels[order]
    cut = int(0.8 * len(labels))
    return TensorSplits(ResidentSplit(features[:cut], labels[:cut]), ResidentSplit(features[cut:], labels[cut:]),
                        labels.unique().numpy(), shape, torch.device("cpu"))


@pytest.fixture(scope="session")
def cancer():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return _splits(torch.tensor(x, dtype=torch.float32), torch.tensor(y), (30,))


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return _splits(torch.tensor(x, dtype=torch.float32) / 16, torch.tensor(y), (1, 8, 8))


CANCER = TableModality({"name": "breast_cancer", "target": "target"})
DIGITS = ImageModality({"name": "digits", "target": "label", "image": {"channels": 1, "size": 8}})


def train(spec: dict, data: TensorSplits, modality, epochs: int, seed: int = 0, **fit_options) -> torch.nn.Module:
    torch.manual_seed(seed)
    module = build_model(spec, data.shape, len(data.classes), modality.input_layers(data.train.moments()))
    fit_on(module, data, TrainConfig(epochs=epochs, lr=3e-3, patience=epochs, progress=False, seed=seed), **fit_options)
    return module.eval()


def accuracy(module, data: TensorSplits) -> float:
    with torch.no_grad():
        return float((module(data.val.inputs).argmax(1) == data.val.labels).float().mean())


MLP = {"family": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.1, "batch_norm": True}
RESNET = {"family": "resnet", "block": "basic", "layers": [1, 1], "base_width": 16, "stem": "small"}


@pytest.fixture(scope="session")
def cancer_mlp(cancer):
    return train(MLP, cancer, CANCER, epochs=40)


@pytest.fixture(scope="session")
def digits_resnet(digits):
    return train(RESNET, digits, DIGITS, epochs=8)
