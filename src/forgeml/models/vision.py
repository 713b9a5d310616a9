"""Image models built from a small config, after torchvision's resnet.py and densenet.py.

Every structural choice is an argument (blocks per stage, widths, growth rate, ...), so tuning can
change a network's structure through parameters alone. The default stem suits small images
(a 3x3 convolution at stride 1, no max-pool); ``stem="imagenet"`` is torchvision's 7x7/2 + max-pool.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from forgeml.errors import ConfigError


def _stem(in_channels: int, width: int, stem: str) -> nn.Sequential:
    if stem == "small":
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
    if stem == "imagenet":
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1),
        )
    raise ConfigError(f"Unknown stem {stem!r}; choose 'small' (images up to about 64 px) or 'imagenet'.")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = _shortcut(in_channels, width * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.shortcut = _shortcut(in_channels, width * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x), inplace=True)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))


RESNET_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Stages of residual blocks; stage i has ``base_width * 2**i`` channels and halves the resolution (i > 0)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        block: str = "basic",
        layers: Sequence[int] = (2, 2, 2),
        base_width: int = 16,
        stem: str = "small",
        dropout: float = 0.0,
    ):
        super().__init__()
        if block not in RESNET_BLOCKS:
            raise ConfigError(f"Unknown ResNet block {block!r}; choose one of {', '.join(RESNET_BLOCKS)}.")
        if not layers or min(layers) < 1:
            raise ConfigError(f"ResNet `layers` needs at least one stage of at least one block, not {list(layers)}.")
        block_type = RESNET_BLOCKS[block]
        self.stem = _stem(_image_channels(input_shape, "resnet"), base_width, stem)
        stages, channels = [], base_width
        for index, count in enumerate(layers):
            width, stride = base_width * 2**index, 1 if index == 0 else 2
            blocks = []
            for position in range(count):
                blocks.append(block_type(channels, width, stride if position == 0 else 1))
                channels = width * block_type.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, n_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():  # zero-init the last BN of each block: every block starts as identity
            if isinstance(module, (BasicBlock, Bottleneck)):
                nn.init.zeros_(module.bn3.weight if isinstance(module, Bottleneck) else module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, dropout: float):
        super().__init__()
        inner = bn_size * growth_rate
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True), nn.Conv2d(in_channels, inner, 1, bias=False),
            nn.BatchNorm2d(inner), nn.ReLU(inplace=True), nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False),
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = F.dropout(self.body(x), p=self.dropout, training=self.training)
        return torch.cat([x, new], 1)


class DenseNet(nn.Module):
    """Dense blocks joined by transitions that shrink channels by ``compression`` and halve the resolution."""

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        growth_rate: int = 12,
        block_config: Sequence[int] = (6, 6, 6),
        bn_size: int = 4,
        compression: float = 0.5,
        dropout: float = 0.0,
        stem: str = "small",
    ):
        super().__init__()
        if not 0 < compression <= 1:
            raise ConfigError(f"DenseNet `compression` must be in (0, 1], not {compression}.")
        if not block_config or min(block_config) < 1:
            raise ConfigError(f"DenseNet `block_config` needs at least one block of at least one layer, not {list(block_config)}.")
        channels = 2 * growth_rate
        layers: list[nn.Module] = [_stem(_image_channels(input_shape, "densenet"), channels, stem)]
        for index, count in enumerate(block_config):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth_rate, bn_size, dropout))
                channels += growth_rate
            if index < len(block_config) - 1:
                out = max(1, int(channels * compression))
                layers.append(nn.Sequential(
                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, out, 1, bias=False), nn.AvgPool2d(2, 2),
                ))
                channels = out
        layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _image_channels(input_shape: Sequence[int], family: str) -> int:
    if len(input_shape) != 3:
        raise ConfigError(
            f"Model family {family!r} needs images (channels, height, width), but this experiment's inputs have "
            f"shape {tuple(input_shape)}. Use it in an image experiment (one whose `experiment.image` is set)."
        )
    return int(input_shape[0])
