"""Custom Kedro datasets."""

from forgeml.datasets.batched import BatchedParquetDataset
from forgeml.datasets.bundled import BundledDataset
from forgeml.datasets.images import BundledImagesDataset, ImageFolderDataset
from forgeml.datasets.tables import TableFileDataset
from forgeml.datasets.verified import VerifiedArraysDataset, VerifiedClassifiersDataset

__all__ = ["BatchedParquetDataset", "BundledDataset", "BundledImagesDataset", "ImageFolderDataset", "TableFileDataset",
           "VerifiedArraysDataset", "VerifiedClassifiersDataset"]
