"""Images to a validated, split pixel table."""

from forgeml.pipelines.images.pipeline import create_pipeline

__all__ = ["create_pipeline"]
