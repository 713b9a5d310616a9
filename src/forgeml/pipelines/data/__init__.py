"""The data pipeline."""

from forgeml.pipelines.data.pipeline import create_pipeline

__all__ = ["create_pipeline"]
