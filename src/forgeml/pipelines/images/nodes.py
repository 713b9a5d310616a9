"""Ingest images, check every file against the experiment's suite, and keep them as a pixel table."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.data.images import ImageSet, images_to_table
from forgeml.errors import ConfigError, DataError
from forgeml.pipelines.data.nodes import DOCS_PATH, suite_for
from forgeml.validation import check_passed, validate_images


def ingest_images(source_images: ImageSet, experiment: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Resize to ``experiment.image.size``; return the pixel table and the per-image manifest."""
    image = experiment.get("image")
    if not image:
        raise ConfigError(
            f"Experiment {experiment['name']!r} reads images but sets no `experiment.image` "
            "(channels and size) in its parameters.yml."
        )
    labels = sorted(set(map(str, source_images.labels)))
    if len(labels) < 2:
        raise DataError(
            f"The image source has {len(labels)} class(es) ({', '.join(labels) or 'none'}); "
            "a classifier needs at least two. Add a sub-folder of images per class."
        )
    return images_to_table(source_images, int(image["size"]), experiment["target"])


def check_images(manifest: pd.DataFrame, experiment: dict[str, Any], validation: dict[str, Any]) -> tuple[dict, str]:
    return validate_images(manifest, suite_for(experiment, validation), experiment["target"])


def accept_images(table: pd.DataFrame, report: dict, experiment: dict[str, Any]) -> pd.DataFrame:
    check_passed(report, DOCS_PATH.format(experiment=experiment["name"], name=report["name"]))
    return table
