"""A small trained MLP on breast cancer and a tiny ResNet on digits, shared by the compression tests."""

from __future__ import annotations

import pytest
import torch

from forgeml.models import build_model
from forgeml.training import TrainConfig
from forgeml.training.data import TensorSplits, fit_on


def _splits(features, labels, shape) -> TensorSplits:
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=generator)
    features, labels = features[order].reshape(-1, *shape), labels[order]
    cut = int(0.8 * len(labels))
    return TensorSplits(features[:cut], labels[:cut], features[cut:], labels[cut:], labels.unique().numpy(), shape,
                        torch.device("cpu"))


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


def train(spec: dict, data: TensorSplits, epochs: int, seed: int = 0, **fit_options) -> torch.nn.Module:
    torch.manual_seed(seed)
    dims = (0, 2, 3) if len(data.shape) == 3 else (0,)  # per channel for images, per feature for tables
    stats = data.x_train.mean(dims, keepdim=True)[0], data.x_train.std(dims, keepdim=True)[0]
    module = build_model(spec, data.shape, len(data.classes), *stats)
    fit_on(module, data, TrainConfig(epochs=epochs, lr=3e-3, patience=epochs, progress=False, seed=seed), **fit_options)
    return module.eval()


def accuracy(module, data: TensorSplits) -> float:
    with torch.no_grad():
        return float((module(data.x_val).argmax(1) == data.y_val).float().mean())


MLP = {"family": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.1, "batch_norm": True}
RESNET = {"family": "resnet", "block": "basic", "layers": [1, 1], "base_width": 16, "stem": "small"}


@pytest.fixture(scope="session")
def cancer_mlp(cancer):
    return train(MLP, cancer, epochs=40)


@pytest.fixture(scope="session")
def digits_resnet(digits):
    return train(RESNET, digits, epochs=8)
