import numpy as np
import pytest
from kedro.io import DatasetError
from PIL import Image

from forgeml.datasets import BundledImagesDataset, ImageFolderDataset


def test_image_folder_loads_through_kedro(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for label in "ab":
        Image.fromarray(np.full((5, 7, 3), 200, np.uint8)).save(tmp_path / label / "x.jpg")
    dataset = ImageFolderDataset(path=str(tmp_path), channels=3)
    assert dataset.exists()
    images = dataset.load()
    assert images.labels == ["a", "b"] and images.read(0)[0].shape == (5, 7, 3)


def test_image_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(DatasetError, match="nothing_here does not exist"):
        ImageFolderDataset(path=str(tmp_path / "nothing_here")).load()
    with pytest.raises(DatasetError, match="channels"):
        ImageFolderDataset(path=str(tmp_path), channels=2)


def test_bundled_digits_images():
    images = BundledImagesDataset(name="digits").load()
    assert len(images.labels) == 1797 and set(images.labels) == set(range(10))
