"""Custom Kedro datasets."""

from forgeml.datasets.audit import AuditLogDataset
from forgeml.datasets.bundled import BundledDataset
from forgeml.datasets.images import BundledImagesDataset, ImageFolderDataset

__all__ = ["AuditLogDataset", "BundledDataset", "BundledImagesDataset", "ImageFolderDataset"]
