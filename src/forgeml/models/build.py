"""Build any model family from a small config, and build it again from its ``Blueprint``.

A built model takes raw inputs: its modality (forgeml.modality) gives the layers it starts with, such as
``Standardize``, holding the training split's mean and standard deviation (per feature, or per channel for
images), so a saved model needs no separate scaler, and for images ``ToImage``, so they accept the flat pixel
rows the registry serves as well as image batches.

Every built model carries its ``Blueprint`` (``module.blueprint``): what it was built from, as data. A model
travels between stages as its blueprint and its weights (forgeml.models.files), so no stage unpickles code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

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

    def as_data(self) -> dict[str, Any]:
        return {"layer": "standardize", "shape": list(self.mean.shape)}

    @classmethod
    def from_data(cls, shape: Sequence[int]) -> "Standardize":
        """Placeholder statistics of the saved shape, which the saved weights then replace."""
        return cls(torch.zeros(shape), torch.ones(shape))


class ToImage(nn.Module):
    """Reshape flat pixel rows (N, C*H*W) to images (N, C, H, W); image batches pass unchanged."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"

    def as_data(self) -> dict[str, Any]:
        return {"layer": "to_image", "shape": list(self.shape)}

    @classmethod
    def from_data(cls, shape: Sequence[int]) -> "ToImage":
        return cls(shape)


INPUT_LAYERS = {"standardize": Standardize, "to_image": ToImage}


@dataclass(frozen=True)
class Blueprint:
    """What ``build_model`` was called with, as data (JSON): ``build()`` makes the same structure again, with fresh
    weights. A model whose structure changed after it was built (channels pruned, encoder layers dropped) has its
    blueprint updated, or its saved weights say the new widths (``shaped_like``)."""

    config: Mapping[str, Any]
    input_shape: tuple[int, ...]
    n_classes: int
    input_layers: tuple[Mapping[str, Any], ...] = ()

    def build(self) -> nn.Module:
        layers = [INPUT_LAYERS[layer["layer"]].from_data(layer["shape"]) for layer in self.input_layers]
        return build_model(dict(self.config), self.input_shape, self.n_classes, layers)

    def with_config(self, config: Mapping[str, Any]) -> "Blueprint":
        return replace(self, config=dict(config))

    def as_data(self) -> dict[str, Any]:
        return {"config": dict(self.config), "input_shape": list(self.input_shape), "n_classes": self.n_classes,
                "input_layers": [dict(layer) for layer in self.input_layers]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> "Blueprint":
        return cls(dict(data["config"]), tuple(data["input_shape"]), int(data["n_classes"]),
                   tuple(dict(layer) for layer in data["input_layers"]))


def build_model(
    config: dict[str, Any],
    input_shape: Sequence[int],
    n_classes: int,
    input_layers: Sequence[nn.Module] = (),
) -> nn.Module:
    """Build ``config["family"]`` with the rest of ``config`` as its arguments, behind ``input_layers``.

    ``input_shape`` is ``(n_features,)`` for tables, ``(channels, height, width)`` for images and
    ``(2, max_length)`` for token ids and masks (forgeml.text); ``input_layers`` come from the modality
    (``Modality.input_layers``) and turn raw inputs into what the family takes. The model carries its
    ``Blueprint`` as ``blueprint``.
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
    model = nn.Sequential(*input_layers, body) if input_layers else body
    model.blueprint = Blueprint(dict(config), tuple(int(size) for size in input_shape), int(n_classes),
                                tuple(layer.as_data() for layer in input_layers))
    return model


# What each layer records of its width, which a pruned layer's weights say anew (torch-pruning sets the same).
WIDTH_ATTRIBUTES = {
    nn.Conv2d: lambda layer: {"out_channels": layer.weight.shape[0], "in_channels": layer.weight.shape[1] * layer.groups},
    nn.Linear: lambda layer: {"out_features": layer.weight.shape[0], "in_features": layer.weight.shape[1]},
    (nn.BatchNorm1d, nn.BatchNorm2d): lambda layer: {"num_features": layer.running_mean.shape[0]},
}


def shaped_like(module: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """``module`` with every parameter and buffer of the shape ``state`` holds for it, so ``state`` loads: a
    channel-pruned model is its blueprint's structure with narrower layers. Values are left for ``state``."""
    for name, saved in state.items():
        owner_name, _, attribute = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        current = getattr(owner, attribute, None)
        if isinstance(current, torch.Tensor) and current.shape != saved.shape:
            resized = torch.empty(saved.shape, dtype=current.dtype)
            setattr(owner, attribute, nn.Parameter(resized, current.requires_grad) if isinstance(current, nn.Parameter)
                    else resized)
    for layer in module.modules():
        widths = next((width for kind, width in WIDTH_ATTRIBUTES.items() if isinstance(layer, kind)), None)
        if widths:
            for attribute, value in widths(layer).items():
                setattr(layer, attribute, int(value))
    return module
