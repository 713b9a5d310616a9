"""The train pipelines: tables and images, and text."""

from forgeml.pipelines.train.pipeline import create_pipeline, create_text_pipeline

__all__ = ["create_pipeline", "create_text_pipeline"]
