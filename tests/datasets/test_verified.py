"""Arrays and trained models load only when their bytes are the ones ForgeML saved, or the ones dvc.lock records;
neither is ever unpickled."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
import yaml
from kedro.io import DatasetError  # Kedro wraps the dataset's DataError, message and all

from forgeml.data.sources import file_md5
from forgeml.datasets import VerifiedClassifiersDataset
from forgeml.modality import TableModality
from forgeml.models import TorchClassifier, build_model
from forgeml.training.data import Moments

ROWS = torch.rand(12, 4, generator=torch.Generator().manual_seed(0))


def candidates():
    """A torch candidate and a scikit-learn one, named in the order a stage made them."""
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(0)
    layers = TableModality({"name": "verified", "target": "label"}).input_layers(Moments.of([torch.as_tensor(ROWS)]))
    mlp = TorchClassifier(build_model({"family": "mlp", "hidden": [5]}, (4,), 2, layers), np.array(["no", "yes"]))
    return {"mlp": mlp, "reference": LogisticRegression().fit(ROWS.numpy(), mlp.predict(ROWS.numpy()))}


def predictions(classifiers):
    return {name: classifier.predict_proba(ROWS.numpy()) for name, classifier in classifiers.items()}


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # catalog paths and dvc.lock are relative to the project
    dataset = VerifiedClassifiersDataset(filepath="data/06_models/candidates.zip")
    dataset.save(candidates())
    return dataset, tmp_path / "data/06_models/candidates.zip"


def assert_the_candidates(loaded):
    assert list(loaded) == ["mlp", "reference"]
    for name, expected in predictions(candidates()).items():
        np.testing.assert_allclose(predictions(loaded)[name], expected, atol=1e-6)


def test_what_forgeml_saved_loads_and_holds_no_pickle(saved):
    dataset, path = saved
    assert_the_candidates(dataset.load())
    assert (path.parent / "candidates.zip.md5").read_text().strip() == file_md5(path)
    with zipfile.ZipFile(path) as archive:  # JSON, safetensors and skops' format: none of them unpickles
        assert sorted(archive.namelist()) == ["0/classifier.json", "0/weights.safetensors", "1/classifier.json",
                                              "1/estimator.skops", "names.json"]


def test_a_replaced_file_is_refused_naming_it_and_both_hashes(saved):
    dataset, path = saved
    path.write_bytes(path.read_bytes() + b"someone else's")
    with pytest.raises(DatasetError, match=r"data/06_models/candidates.zip is not the file this project wrote") as refused:
        dataset.load()
    assert file_md5(path) in str(refused.value) and "candidates.zip.md5" in str(refused.value)


def test_a_file_dvc_restored_loads_by_the_hash_dvc_lock_records(saved, tmp_path):
    dataset, path = saved
    (path.parent / "candidates.zip.md5").unlink()  # as after `dvc checkout` on another machine
    with pytest.raises(DatasetError, match="no hash was recorded"):
        dataset.load()
    lock = {"schema": "2.0", "stages": {"train": {"outs": [{"path": "data/06_models/candidates.zip", "hash": "md5",
                                                            "md5": file_md5(path)}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert_the_candidates(dataset.load())
    absolute = VerifiedClassifiersDataset(filepath=str(path))  # as Kedro's catalog hands it over
    assert_the_candidates(absolute.load())


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
    with pytest.raises(DatasetError, match="holds Python objects, which are not loaded"):
        dataset.load()


def test_arrays_made_in_batches_are_written_without_holding_them_whole(tmp_path, monkeypatch):
    from forgeml.data.batches import ArrayBatches
    from forgeml.datasets import VerifiedArraysDataset

    monkeypatch.chdir(tmp_path)
    dataset = VerifiedArraysDataset(filepath="tensors.npz")
    pixels = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3)
    dataset.save({"train": ArrayBatches(5, lambda: iter([pixels[:3], pixels[3:]])), "test": pixels[:1]})
    loaded = dataset.load()
    np.testing.assert_array_equal(loaded["train"], pixels)
    assert loaded["train"].dtype == np.uint8 and loaded["test"].shape == (1, 2, 3)
    with pytest.raises(DatasetError, match="'train' was to have 6 rows; its batches held 5"):
        dataset.save({"train": ArrayBatches(6, lambda: iter([pixels]))})
    np.testing.assert_array_equal(dataset.load()["train"], pixels)  # the failed write left the last good file
