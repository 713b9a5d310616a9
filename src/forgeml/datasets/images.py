"""Read-only Kedro datasets for images: a class-per-folder tree, and the bundled digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from forgeml.data.images import ImageSet


class ImageFolderDataset(AbstractDataset[None, ImageSet]):
    """Images under ``path/<class>/`` (PNG or JPEG), converted to ``channels`` (1 grey, 3 RGB).

    Example catalog entry::

        source:
          type: forgeml.datasets.ImageFolderDataset
          path: data/01_raw/my_images
          channels: 3
    """

    def __init__(self, path: str, channels: int = 3, metadata: dict[str, Any] | None = None):
        if channels not in (1, 3):
            raise DatasetError(f"ImageFolderDataset `channels` must be 1 (grey) or 3 (RGB), not {channels!r}.")
        self._path, self._channels, self.metadata = Path(path), channels, metadata
        self._filepath = self._path  # lets the DVC stage generator track the folder

    def load(self) -> ImageSet:
        from forgeml.data.images import load_image_folder

        return load_image_folder(self._path, self._channels)

    def content_hash(self) -> str:
        """The folder's version: its images' relative paths and bytes (forgeml.data.sources.files_md5)."""
        from forgeml.data.images import image_files
        from forgeml.data.sources import files_md5

        return files_md5(self._path, [path for _, path in image_files(self._path)])

    def save(self, data: ImageSet) -> None:
        raise DatasetError(f"The image folder {self._path} is read-only for ForgeML.")

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "channels": self._channels}

    def _exists(self) -> bool:
        return self._path.is_dir()


class BundledImagesDataset(AbstractDataset[None, ImageSet]):
    """scikit-learn's ``digits`` as 8x8 grey images."""

    def __init__(self, name: str = "digits", metadata: dict[str, Any] | None = None):
        self._name, self.metadata = name, metadata

    def load(self) -> ImageSet:
        from forgeml.data.images import load_bundled_images

        return load_bundled_images(self._name)

    def content_hash(self) -> str:
        """The set's version (it has no file for DVC to hash): its pixels and labels."""
        from forgeml.data.sources import frame_hash

        images = self.load()
        pixels = np.stack([images.read(index)[0] for index in range(len(images))])
        return frame_hash(pd.DataFrame(pixels.reshape(len(images), -1)).assign(label=images.labels))

    def save(self, data: ImageSet) -> None:
        raise DatasetError(f"The bundled image set {self._name!r} is read-only.")

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name}

    def _exists(self) -> bool:
        return True
