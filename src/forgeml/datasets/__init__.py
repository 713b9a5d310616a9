"""Custom Kedro datasets."""

from forgeml.datasets.bundled import BundledDataset

__all__ = ["BundledDataset"]
