"""Hyperparameter and structure search for one candidate."""

from forgeml.pipelines.tune.pipeline import create_pipeline

__all__ = ["create_pipeline"]
