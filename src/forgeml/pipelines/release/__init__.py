"""The release pipeline."""

from forgeml.pipelines.release.pipeline import create_pipeline

__all__ = ["create_pipeline"]
