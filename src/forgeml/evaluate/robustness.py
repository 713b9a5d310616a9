"""Accuracy under perturbation: Gaussian noise, occlusion and rotation, or dropped words, each at several strengths.

A perturbation is a function of the model's raw inputs, a strength and a seed (``Perturbation``); each modality
(forgeml.modality) says which ones its inputs take: tables get Gaussian noise scaled by each feature's standard
deviation on the test split, images (N, C, H, W) in [0, 1] noise, occlusion and rotation, texts words dropped at
random. Every candidate is scored on the same perturbed inputs (a fixed seed), so their curves compare directly.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

Perturbation = Callable[[np.ndarray, float, int], np.ndarray]  # (raw inputs, strength, seed) -> perturbed inputs
UNITS = {"noise": "noise std", "occlusion": "occluded side (fraction)", "rotation": "rotation (degrees)",
         "word_dropout": "words dropped (fraction)"}


def feature_noise(features: np.ndarray, level: float, seed: int) -> np.ndarray:
    """Gaussian noise in units of each feature's spread."""
    inputs = torch.tensor(features, dtype=torch.float32)
    noise = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(seed))
    return (inputs + level * inputs.std(0, keepdim=True) * noise).numpy()


def drop_words(texts: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Each word of each text dropped with probability ``rate`` (a text keeps at least its first word)."""
    rng, kept = np.random.default_rng(seed), []
    for text in texts:
        words = str(text).split()
        kept.append(" ".join([w for w in words if rng.random() >= rate] or words[:1]))
    return np.asarray(kept, dtype=object)


def pixel_noise(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    return (images + level * torch.randn(images.shape, generator=generator)).clamp(0.0, 1.0)


def occlude(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """A black square of side ``level`` times the image's, at a random place in each image."""
    count, _, height, width = images.shape
    side = max(1, round(level * min(height, width)))
    out = images.clone()
    tops = torch.randint(0, height - side + 1, (count,), generator=generator)
    lefts = torch.randint(0, width - side + 1, (count,), generator=generator)
    for index, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
        out[index, :, top : top + side, left : left + side] = 0.0
    return out


def rotate(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """Each image turned by ``level`` degrees, clockwise or not at random."""
    from kornia.geometry.transform import rotate as kornia_rotate

    signs = torch.randint(0, 2, (images.shape[0],), generator=generator) * 2 - 1
    return kornia_rotate(images, signs.float() * level).clamp(0.0, 1.0)


IMAGE_PERTURBATIONS = {"noise": pixel_noise, "occlusion": occlude, "rotation": rotate}


def on_pixel_rows(perturbation: Callable[[torch.Tensor, float, torch.Generator], torch.Tensor],
                  shape: Sequence[int]) -> Perturbation:
    """An image perturbation as one of flat pixel rows (what image models and the registry take)."""
    def perturb(features: np.ndarray, level: float, seed: int) -> np.ndarray:
        images = torch.tensor(features, dtype=torch.float32).reshape(-1, *shape)
        return perturbation(images, level, torch.Generator().manual_seed(seed)).reshape(len(features), -1).numpy()
    return perturb


def robustness_curves(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    levels: dict[str, Sequence[float]],
    perturbations: dict[str, Perturbation],
    seed: int = 0,
) -> dict[str, dict[str, list[float]]]:
    """For each perturbation in ``levels`` that ``perturbations`` has: the accuracy at strength 0 (clean) and at
    each level, every level perturbed from the same ``seed``."""
    clean = _accuracy(predict_proba, features, labels, classes)
    return {kind: {"levels": [0.0, *map(float, strengths)],
                   "accuracy": [clean, *(_accuracy(predict_proba, perturbations[kind](features, float(strength), seed),
                                                   labels, classes) for strength in strengths)]}
            for kind, strengths in levels.items() if kind in perturbations}


def _accuracy(predict_proba, features: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    predicted = np.asarray(classes)[predict_proba(features).argmax(1)]
    return float(np.mean(predicted == labels))


def robustness_metrics(curves: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """Per perturbation: accuracy at each level and ``robustness_<kind>``, the mean accuracy over the levels."""
    metrics = {}
    for kind, curve in curves.items():
        for level, accuracy in zip(curve["levels"][1:], curve["accuracy"][1:]):
            metrics[f"{kind}_{level:g}_accuracy"] = accuracy
        metrics[f"robustness_{kind}"] = float(np.mean(curve["accuracy"][1:]))
    return metrics


def robustness_figure(curves: dict[str, dict[str, list[float]]], title: str) -> Any:
    # Not through pyplot: a Figure of its own is never kept open by pyplot (no "more than 20 figures"
    # warning), is freed with its last reference, and needs no GUI backend.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4 * len(curves), 3.2))
    axes = figure.subplots(1, len(curves), squeeze=False)
    for axis, (kind, curve) in zip(axes[0], curves.items()):
        axis.plot(curve["levels"], curve["accuracy"], marker="o")
        axis.set_xlabel(UNITS[kind])
        axis.set_ylabel("test accuracy")
        axis.set_ylim(0, 1.02)
        axis.set_title(kind)
        axis.grid(alpha=0.3)
    figure.suptitle(f"Robustness: {title}")
    figure.tight_layout()
    return figure
