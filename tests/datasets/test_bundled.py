import pytest
from kedro.io import DatasetError

from forgeml.datasets import BundledDataset


def test_loads_through_kedro_and_is_read_only():
    dataset = BundledDataset(name="digits")
    assert dataset.load().shape == (1797, 65)
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save(dataset.load())


def test_unknown_name_fails_on_load():
    dataset = BundledDataset(name="wine")  # a catalog entry is only checked when a pipeline loads it
    with pytest.raises(DatasetError, match="Unknown bundled data set 'wine'"):
        dataset.load()
