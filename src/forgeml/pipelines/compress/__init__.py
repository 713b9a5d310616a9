"""Compress the best candidate: pruning, INT8 quantization and distillation, each a new candidate."""

from forgeml.pipelines.compress.pipeline import create_pipeline

__all__ = ["create_pipeline"]
