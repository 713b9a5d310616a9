"""Models on flat features: logistic regression and a configurable MLP (images are flattened first)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

from torch import nn

from forgeml.errors import ConfigError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def _features(input_shape: Sequence[int]) -> int:
    return math.prod(input_shape)


def logreg(input_shape: Sequence[int], n_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(_features(input_shape), n_classes))


def mlp(
    input_shape: Sequence[int],
    n_classes: int,
    hidden: Sequence[int] = (64, 32),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Module:
    if activation not in ACTIVATIONS:
        raise ConfigError(f"Unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}.")
    layers: list[nn.Module] = [nn.Flatten()]
    width = _features(input_shape)
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
