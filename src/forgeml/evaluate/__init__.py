"""Evaluation: quality metrics, calibration, confusion matrix, robustness, size and latency."""

from forgeml.evaluate.footprint import (
    fixed_threads,
    measure_latency,
    measure_latency_side_by_side,
    measurement_environment,
    serialized_size,
    tensor_bytes,
)
from forgeml.evaluate.metrics import classification_metrics, confusion_matrix_figure
from forgeml.evaluate.robustness import robustness_curves, robustness_figure, robustness_metrics

__all__ = [
    "classification_metrics", "confusion_matrix_figure", "fixed_threads", "measure_latency", "robustness_curves",
    "robustness_figure", "robustness_metrics", "serialized_size", "measure_latency_side_by_side", "measurement_environment", "tensor_bytes",
]
