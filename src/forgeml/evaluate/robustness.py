"""Accuracy under perturbation: Gaussian noise, occlusion and rotation, or dropped words, each at several strengths.

Images (N, C, H, W) in [0, 1] get the first three; tables get Gaussian noise scaled by each feature's
standard deviation on the test split; texts get words dropped at random. Every candidate is scored on the same perturbed inputs (a
fixed seed), so their curves compare directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

IMAGE_PERTURBATIONS = ("noise", "occlusion", "rotation")
TEXT_PERTURBATIONS = ("word_dropout",)
UNITS = {"noise": "noise std", "occlusion": "occluded side (fraction)", "rotation": "rotation (degrees)",
         "word_dropout": "words dropped (fraction)"}


def drop_words(texts: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each word of each text dropped with probability ``rate`` (a text keeps at least its first word)."""
    kept = []
    for text in texts:
        words = str(text).split()
        kept.append(" ".join([w for w in words if rng.random() >= rate] or words[:1]))
    return np.asarray(kept, dtype=object)


def perturb(kind: str, inputs: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """``inputs`` perturbed at strength ``level``; images stay in [0, 1]."""
    import torch

    if kind == "noise":
        if inputs.ndim == 2:  # a table: noise in units of each feature's spread
            scale = inputs.std(0, keepdim=True)
            return inputs + level * scale * torch.randn(inputs.shape, generator=generator)
        return (inputs + level * torch.randn(inputs.shape, generator=generator)).clamp(0.0, 1.0)
    if kind == "occlusion":
        count, _, height, width = inputs.shape
        side = max(1, round(level * min(height, width)))
        out = inputs.clone()
        tops = torch.randint(0, height - side + 1, (count,), generator=generator)
        lefts = torch.randint(0, width - side + 1, (count,), generator=generator)
        for index, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
            out[index, :, top : top + side, left : left + side] = 0.0
        return out
    if kind == "rotation":
        from kornia.geometry.transform import rotate

        signs = torch.randint(0, 2, (inputs.shape[0],), generator=generator) * 2 - 1
        return rotate(inputs, signs.float() * level).clamp(0.0, 1.0)
    raise ValueError(f"Unknown perturbation {kind!r}; known: {', '.join(IMAGE_PERTURBATIONS)}.")


def robustness_curves(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    levels: dict[str, Sequence[float]],
    image_shape: Sequence[int] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, list[float]]]:
    """For each perturbation in ``levels``: the accuracy at strength 0 (clean) and at each level.

    Tables support only ``noise``, texts (an object array of strings) only ``word_dropout``; the
    other perturbations are skipped for them.
    """
    clean = _accuracy(predict_proba, features, labels, classes)
    if features.dtype == object:
        return {kind: {"levels": [0.0, *map(float, strengths)],
                       "accuracy": [clean, *(_accuracy(predict_proba, drop_words(features, float(strength),
                                                                                 np.random.default_rng(seed)),
                                                       labels, classes) for strength in strengths)]}
                for kind, strengths in levels.items() if kind in TEXT_PERTURBATIONS}
    import torch

    inputs = torch.tensor(features, dtype=torch.float32)
    if image_shape is not None:
        inputs = inputs.reshape(-1, *image_shape)
    curves = {}
    for kind, strengths in levels.items():
        if kind in TEXT_PERTURBATIONS or (image_shape is None and kind != "noise"):
            continue
        accuracies = [clean]
        for strength in strengths:
            generator = torch.Generator().manual_seed(seed)
            perturbed = perturb(kind, inputs, float(strength), generator).reshape(len(features), -1).numpy()
            accuracies.append(_accuracy(predict_proba, perturbed, labels, classes))
        curves[kind] = {"levels": [0.0, *map(float, strengths)], "accuracy": accuracies}
    return curves


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
