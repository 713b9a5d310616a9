"""The data stage of a text experiment."""

from forgeml.pipelines.texts.pipeline import create_pipeline

__all__ = ["create_pipeline"]
