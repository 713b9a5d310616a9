"""The train pipeline."""

from forgeml.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
