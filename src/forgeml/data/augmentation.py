"""Augmentation of whole training batches on the training device: images with kornia, tables by noise.

A policy in parameters switches and sizes each transform; a transform that is absent, ``false``
or ``null`` is off::

    augmentation:
      horizontal_flip: {p: 0.5}
      resized_crop: {scale: [0.8, 1.0], p: 0.5}
      rotation: {degrees: 10, p: 0.5}
      affine: {scale: [0.9, 1.1], translate: [0.1, 0.1], p: 0.5}   # scale and translation
      color_jitter: {brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.05, p: 0.5}
      gaussian_noise: {std: 0.05, p: 0.5}

Images are in [0, 1] and stay there. A table's policy (``build_table_augmentation``) perturbs numeric
features without touching labels::

    augmentation:
      noise: {std: 0.1}    # Gaussian noise of 0.1 times each feature's standard deviation in the batch
      swap: {p: 0.1}       # each value replaced, with probability p, by that feature's value in another row
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from forgeml.errors import ConfigError

TRANSFORMS = ("horizontal_flip", "resized_crop", "rotation", "affine", "color_jitter", "gaussian_noise")


def _transform(name: str, options: dict[str, Any], image_size: tuple[int, int]) -> nn.Module:
    import kornia.augmentation as K

    options = dict(options)
    p = float(options.pop("p", 0.5))
    builders = {
        "horizontal_flip": lambda: K.RandomHorizontalFlip(p=p),
        "resized_crop": lambda: K.RandomResizedCrop(image_size, scale=tuple(options.pop("scale", (0.8, 1.0))),
                                                    ratio=tuple(options.pop("ratio", (0.9, 1.1))), p=p),
        "rotation": lambda: K.RandomRotation(degrees=float(options.pop("degrees", 10)), p=p),
        "affine": lambda: K.RandomAffine(degrees=0, scale=tuple(options.pop("scale", (0.9, 1.1))),
                                         translate=tuple(options.pop("translate", (0.1, 0.1))), p=p),
        "color_jitter": lambda: K.ColorJitter(**{k: options.pop(k, 0.0) for k in ("brightness", "contrast", "saturation", "hue")}, p=p),
        "gaussian_noise": lambda: K.RandomGaussianNoise(std=float(options.pop("std", 0.05)), p=p),
    }
    transform = builders[name]()
    if options:
        raise ConfigError(f"Unknown options {sorted(options)} for augmentation {name!r}.")
    return transform


class Augmentation(nn.Module):
    """A kornia pipeline over image batches, clamped back to [0, 1]."""

    def __init__(self, transforms: Sequence[nn.Module]):
        super().__init__()
        import kornia.augmentation as K

        self.pipeline = K.AugmentationSequential(*transforms)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipeline(images).clamp_(0.0, 1.0)


def build_augmentation(policy: dict[str, Any] | None, image_size: Sequence[int]) -> Augmentation | None:
    """The policy's transforms in a fixed order (geometry, then colour, then noise); None when all are off."""
    policy = policy or {}
    unknown = sorted(set(policy) - set(TRANSFORMS))
    if unknown:
        raise ConfigError(f"Unknown augmentation {unknown}; ForgeML knows {', '.join(TRANSFORMS)}.")
    size = (int(image_size[0]), int(image_size[1]))
    transforms = [
        _transform(name, policy[name] if isinstance(policy[name], dict) else {}, size)
        for name in TRANSFORMS
        if policy.get(name) not in (None, False)
    ]
    return Augmentation(transforms) if transforms else None


PREVIEW_GAP = 1  # white pixels between the tiles of a preview


def preview_grid(images: torch.Tensor, augmentation: Augmentation, variants: int = 4, seed: int = 0):
    """A figure of one picture: the first row of tiles shows ``images`` as they are, each row below one
    augmented draw of them."""
    # One picture, not an axes per image: a figure of 40 axes took about a second to draw.
    # Not through pyplot: a Figure of its own is never kept open by pyplot (no "more than 20 figures"
    # warning), is freed with its last reference, and needs no GUI backend.
    from matplotlib.figure import Figure

    torch.manual_seed(seed)
    rows = torch.stack([images] + [augmentation(images.clone()) for _ in range(variants)]).cpu()
    padded = nn.functional.pad(rows, (PREVIEW_GAP, 0, PREVIEW_GAP, 0), value=1.0)  # (rows, images, C, H, W)
    count, columns, channels, height, width = padded.shape
    picture = nn.functional.pad(padded.permute(0, 3, 1, 4, 2).reshape(count * height, columns * width, channels),
                                (0, 0, 0, PREVIEW_GAP, 0, PREVIEW_GAP), value=1.0)
    figure = Figure(figsize=(1.2 * columns, 1.2 * count))
    axis = figure.subplots()
    axis.imshow(picture.squeeze(-1).numpy(), cmap="gray" if channels == 1 else None, vmin=0.0, vmax=1.0)
    axis.set_xticks([])
    axis.set_yticks([row * height + (height + PREVIEW_GAP) / 2 for row in range(count)],
                    ["original", *(f"draw {row}" for row in range(1, count))], fontsize=8)
    figure.suptitle("Augmented training samples", fontsize=10)
    figure.tight_layout()
    return figure


TABLE_TRANSFORMS = {"noise": "std", "swap": "p"}  # each transform and its one setting


class TableAugmentation(nn.Module):
    """Label-free noise for numeric features, scaled per feature by the batch itself (features are raw:
    the model standardizes them in its first layer): Gaussian noise, then swap noise (a value replaced by
    the same feature's value in a random row of the batch, as in denoising autoencoders for tables)."""

    def __init__(self, noise_std: float = 0.0, swap_p: float = 0.0):
        super().__init__()
        self.noise_std, self.swap_p = noise_std, swap_p

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        if self.noise_std:
            rows = rows + torch.randn_like(rows) * rows.std(0, keepdim=True) * self.noise_std
        if self.swap_p:
            donors = torch.gather(rows, 0, torch.randint(0, len(rows), rows.shape, device=rows.device))
            rows = torch.where(torch.rand_like(rows) < self.swap_p, donors, rows)
        return rows


def build_table_augmentation(policy: dict[str, Any] | None) -> TableAugmentation | None:
    """The table policy's transforms; None when all are off."""
    policy = policy or {}
    unknown = sorted(set(policy) - set(TABLE_TRANSFORMS))
    if unknown:
        raise ConfigError(f"Unknown table augmentation {unknown}; ForgeML knows {', '.join(TABLE_TRANSFORMS)} for tables.")
    settings = {}
    for name, setting in TABLE_TRANSFORMS.items():
        options = policy.get(name) or {}
        extra = sorted(set(options) - {setting})
        if extra:
            raise ConfigError(f"Unknown options {extra} for table augmentation {name!r}; it takes {setting!r}.")
        settings[name] = float(options.get(setting, 0.0))
    if not 0.0 <= settings["swap"] < 1.0 or settings["noise"] < 0.0:
        raise ConfigError("Table augmentation: noise.std must be >= 0 and swap.p in [0, 1).")
    return TableAugmentation(settings["noise"], settings["swap"]) if any(settings.values()) else None
