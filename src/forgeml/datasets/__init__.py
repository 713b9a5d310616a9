"""Custom Kedro datasets."""

from forgeml.datasets.bundled import BundledDataset
from forgeml.datasets.images import BundledImagesDataset, ImageFolderDataset

__all__ = ["BundledDataset", "BundledImagesDataset", "ImageFolderDataset"]
