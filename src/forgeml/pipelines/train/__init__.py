"""The train pipeline: every candidate of the experiment, whatever its modality."""

from forgeml.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
