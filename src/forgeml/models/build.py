"""Build any model family from a small config.

A built model takes raw inputs: its modality (forgeml.modality) gives the layers it starts with, such as
``Standardize``, holding the training split's mean and standard deviation (per feature, or per channel for
images), so a saved model needs no separate scaler, and for images ``ToImage``, so they accept the flat pixel
rows the registry serves as well as image batches.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from forgeml.errors import ConfigError
from forgeml.models.tabular import logreg, mlp
from forgeml.models.text import BertClassifier
from forgeml.models.vision import DenseNet, ResNet

MODEL_FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "logreg": logreg, "mlp": mlp, "resnet": ResNet, "densenet": DenseNet, "bert": BertClassifier,
}
# families whose models can keep some of their layers and drop the rest (``keep_layers``): a student started from
# its teacher's own weights
LAYER_KEEPING_FAMILIES = tuple(family for family, build in MODEL_FAMILIES.items() if hasattr(build, "keep_layers"))


class Standardize(nn.Module):
    """(x - mean) / std with the statistics stored as buffers, so they travel with the weights."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ToImage(nn.Module):
    """Reshape flat pixel rows (N, C*H*W) to images (N, C, H, W); image batches pass unchanged."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def build_model(
    config: dict[str, Any],
    input_shape: Sequence[int],
    n_classes: int,
    input_layers: Sequence[nn.Module] = (),
) -> nn.Module:
    """Build ``config["family"]`` with the rest of ``config`` as its arguments, behind ``input_layers``.

    ``input_shape`` is ``(n_features,)`` for tables, ``(channels, height, width)`` for images and
    ``(2, max_length)`` for token ids and masks (forgeml.text); ``input_layers`` come from the modality
    (``Modality.input_layers``) and turn raw inputs into what the family takes.
    """
    options = dict(config)
    family = options.pop("family", None)
    if family not in MODEL_FAMILIES:
        raise ConfigError(
            f"Unknown model family {family!r}. Torch families: {', '.join(MODEL_FAMILIES)}; "
            "check `family` in the candidate's `model` block in conf/base/parameters_train.yml."
        )
    try:
        body = MODEL_FAMILIES[family](tuple(input_shape), n_classes, **options)
    except TypeError as error:
        raise ConfigError(f"Bad options for model family {family!r}: {error}") from error
    return nn.Sequential(*input_layers, body) if input_layers else body
