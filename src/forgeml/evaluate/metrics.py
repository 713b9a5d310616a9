"""Quality metrics from predicted probabilities, through torchmetrics."""

from __future__ import annotations

import numpy as np


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Accuracy, macro F1, macro one-vs-rest ROC AUC, log loss and expected calibration error (15 bins).

    ``probabilities`` has one column per entry of ``classes``; ``labels`` are raw label values.
    """
    import torch
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_auroc,
        multiclass_calibration_error,
        multiclass_f1_score,
    )

    index = {label: i for i, label in enumerate(classes)}
    target = torch.as_tensor([index[label] for label in labels])
    probs = torch.as_tensor(np.asarray(probabilities, dtype=np.float64))
    n = len(classes)
    return {
        "accuracy": multiclass_accuracy(probs, target, n, average="micro").item(),
        "f1_macro": multiclass_f1_score(probs, target, n, average="macro").item(),
        "roc_auc": multiclass_auroc(probs, target, n, average="macro").item(),
        "log_loss": torch.nn.functional.nll_loss(probs.clamp_min(1e-15).log(), target).item(),
        "ece": multiclass_calibration_error(probs, target, n, n_bins=15, norm="l1").item(),
    }


def confusion_matrix_figure(matrix: np.ndarray, classes: list, title: str):
    """A matplotlib figure of a confusion matrix (rows: true label, columns: predicted)."""
    # Not through pyplot: a Figure of its own is never kept open by pyplot (no "more than 20 figures"
    # warning), is freed with its last reference, and needs no GUI backend.
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    size = 3 + 0.4 * len(classes)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    ticks = range(len(classes))
    axes.set(xticks=ticks, yticks=ticks, xticklabels=classes, yticklabels=classes,
             xlabel="predicted", ylabel="true", title=title)
    figure.tight_layout()
    return figure
