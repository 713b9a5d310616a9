"""Tabular models in torch: logistic regression and a configurable MLP.

Every model starts with a ``Standardize`` layer holding the training split's feature mean and
standard deviation, so a saved model takes raw features: no separate scaler to lose.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from forgeml.errors import ConfigError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


class Standardize(nn.Module):
    """(x - mean) / std with the statistics stored as buffers, so they travel with the weights."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _logreg(n_features: int, n_classes: int) -> nn.Module:
    return nn.Linear(n_features, n_classes)


def _mlp(
    n_features: int,
    n_classes: int,
    hidden: list[int] = (64, 32),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Module:
    if activation not in ACTIVATIONS:
        raise ConfigError(f"Unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}.")
    layers: list[nn.Module] = []
    width = n_features
    for out in hidden:
        layers.append(nn.Linear(width, out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(out))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = out
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


MODEL_FAMILIES: dict[str, Callable[..., nn.Module]] = {"logreg": _logreg, "mlp": _mlp}


def build_model(
    config: dict[str, Any],
    n_features: int,
    n_classes: int,
    feature_mean: torch.Tensor | None = None,
    feature_std: torch.Tensor | None = None,
) -> nn.Module:
    """Build ``config["family"]`` with the rest of ``config`` as its arguments.

    With feature statistics, the model is ``Standardize`` followed by the network.
    """
    options = dict(config)
    family = options.pop("family", None)
    if family not in MODEL_FAMILIES:
        raise ConfigError(
            f"Unknown model family {family!r}. Torch families: {', '.join(MODEL_FAMILIES)}; "
            "check `family` in the candidate's `model` block in conf/base/parameters_train.yml."
        )
    try:
        body = MODEL_FAMILIES[family](n_features, n_classes, **options)
    except TypeError as error:
        raise ConfigError(f"Bad options for model family {family!r}: {error}") from error
    if feature_mean is None:
        return body
    return nn.Sequential(Standardize(feature_mean, feature_std), body)
