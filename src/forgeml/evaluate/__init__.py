"""Evaluation: quality metrics, calibration, confusion matrix, size and latency."""

from forgeml.evaluate.footprint import measure_latency, serialized_size
from forgeml.evaluate.metrics import classification_metrics, confusion_matrix_figure

__all__ = ["classification_metrics", "confusion_matrix_figure", "measure_latency", "serialized_size"]
