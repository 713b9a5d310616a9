"""Arrays and pickles load only when their bytes are the ones ForgeML saved, or the ones dvc.lock records;
arrays never unpickle."""

from __future__ import annotations

import pytest
import yaml
from kedro.io import DatasetError  # Kedro wraps the dataset's DataError, message and all

from forgeml.data.sources import file_md5
from forgeml.datasets import VerifiedPickleDataset


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # catalog paths and dvc.lock are relative to the project
    dataset = VerifiedPickleDataset(filepath="data/06_models/candidates.pkl")
    dataset.save({"mlp": [1, 2, 3]})
    return dataset, tmp_path / "data/06_models/candidates.pkl"


def test_what_forgeml_saved_loads(saved):
    dataset, path = saved
    assert dataset.load() == {"mlp": [1, 2, 3]}
    assert (path.parent / "candidates.pkl.md5").read_text().strip() == file_md5(path)


def test_a_replaced_file_is_refused_naming_it_and_both_hashes(saved):
    import pickle

    dataset, path = saved
    path.write_bytes(pickle.dumps({"mlp": "someone else's"}))
    with pytest.raises(DatasetError, match=r"data/06_models/candidates.pkl is not the file this project wrote") as refused:
        dataset.load()
    assert file_md5(path) in str(refused.value) and "candidates.pkl.md5" in str(refused.value)


def test_a_file_dvc_restored_loads_by_the_hash_dvc_lock_records(saved, tmp_path):
    dataset, path = saved
    (path.parent / "candidates.pkl.md5").unlink()  # as after `dvc checkout` on another machine
    with pytest.raises(DatasetError, match="no hash was recorded"):
        dataset.load()
    lock = {"schema": "2.0", "stages": {"train": {"outs": [{"path": "data/06_models/candidates.pkl", "hash": "md5",
                                                            "md5": file_md5(path)}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert dataset.load() == {"mlp": [1, 2, 3]}
    absolute = VerifiedPickleDataset(filepath=str(path))  # as Kedro's catalog hands it over
    assert absolute.load() == {"mlp": [1, 2, 3]}


def test_arrays_are_npz_read_without_pickles_and_refused_once_changed(tmp_path, monkeypatch):
    import numpy as np

    from forgeml.datasets import VerifiedArraysDataset

    monkeypatch.chdir(tmp_path)
    dataset = VerifiedArraysDataset(filepath="data/04_feature/tensors.npz")
    arrays = {"train": np.arange(6, dtype=np.float32).reshape(2, 3), "test": np.ones((1, 2, 4), dtype=np.int64)}
    dataset.save(arrays)
    loaded = dataset.load()
    assert loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype
    path = tmp_path / "data/04_feature/tensors.npz"
    np.savez(path, train=np.zeros((2, 3), dtype=np.float32), test=arrays["test"])  # changed after it was written
    with pytest.raises(DatasetError, match=r"data/04_feature/tensors.npz is not the file this project wrote"):
        dataset.load()
    np.savez(path, objects=np.array([{"code": "runs"}], dtype=object))  # a pickle inside, recorded as if written here
    (tmp_path / "data/04_feature/tensors.npz.md5").write_text(file_md5(path))
    with pytest.raises(DatasetError, match="Object arrays cannot be loaded when allow_pickle=False"):
        dataset.load()
