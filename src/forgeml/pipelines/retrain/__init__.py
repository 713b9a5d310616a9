"""Scheduled retraining: new data, the champion's recipe, the same promotion gate."""

from forgeml.pipelines.retrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
