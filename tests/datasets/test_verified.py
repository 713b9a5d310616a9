"""A pickle is unpickled only when its bytes are the ones ForgeML saved, or the ones dvc.lock records."""

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
