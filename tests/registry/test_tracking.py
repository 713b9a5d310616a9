"""Reading aliases: "no such alias" is the only answer that means no champion; any other store error stops."""

from __future__ import annotations

import subprocess
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from forgeml.cli import main
from forgeml.errors import RegistryError
from forgeml.registry.tracking import alias_version
from tests.pipelines.conftest import project_env


@pytest.fixture
def store(sqlite_registry):
    return sqlite_registry[0]


def test_a_missing_alias_or_model_reads_as_none_and_a_set_alias_as_its_version(store):
    assert alias_version("m", "champion") is None and alias_version("not_registered", "champion") is None
    run = store.create_run(store.create_experiment("e")).info.run_id
    version = store.create_model_version("m", f"runs:/{run}/model", run_id=run).version
    store.set_registered_model_alias("m", "champion", version)
    assert alias_version("m", "champion") == str(version)


@pytest.mark.parametrize("fault", [
    __import__("mlflow").exceptions.MlflowException("database is locked", error_code=1),  # INTERNAL_ERROR
    ConnectionError("Connection refused"),
], ids=["store-error", "server-down"])
def test_any_other_store_error_is_an_error_not_no_champion(store, fault):
    # a mock only injects the fault; the store is real
    with mock.patch("mlflow.MlflowClient.get_registered_model", side_effect=fault):
        with pytest.raises(RegistryError, match="registry could not be read.*nothing was moved"):
            alias_version("m", "champion")


class Constant(__import__("mlflow").pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [7] * len(model_input)


def test_a_registered_version_whose_files_changed_is_refused_naming_it(store, tmp_path):
    import mlflow
    import pandas as pd

    from forgeml.registry.tracking import MODEL_SHA256, load_verified, predict_with_version, register_candidate

    with mlflow.start_run(experiment_id=store.create_experiment("models")):  # not an experiment id another test left
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=["mlflow"])
    version = register_candidate("m", info.model_uri, "constant", {})
    assert len(store.get_model_version("m", version).tags[MODEL_SHA256]) == 64
    rows = pd.DataFrame({"x": [1.0, 2.0]})
    assert list(predict_with_version("m", version, rows)) == [7, 7]

    stored = Path(mlflow.get_logged_model(info.model_id).artifact_location.removeprefix("file://"))
    (stored / "python_model.pkl").write_bytes((stored / "python_model.pkl").read_bytes() + b"tampered")
    with pytest.raises(RegistryError, match=f"Version {version} of 'm': its files changed since it was registered"):
        load_verified("m", version, tmp_path / "copy")
    store.set_registered_model_alias("m", "champion", version)
    result = CliRunner().invoke(main, ["verify", "--model", "m", "--tracking-uri", mlflow.get_tracking_uri()])
    assert result.exit_code == 2 and f"Version {version} of 'm': its files changed" in result.stderr


def test_a_version_without_its_recorded_hash_is_refused_and_verify_fails(store, tmp_path):
    """A release killed between registering a version and tagging its hash (or a deleted tag): nothing can be
    checked, so nothing loads, and `forgeml verify` (what `make serve` runs first) exits non-zero."""
    import mlflow

    from forgeml.registry.tracking import load_verified

    with mlflow.start_run(experiment_id=store.create_experiment("untagged")):
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=["mlflow"])
    version = str(mlflow.register_model(info.model_uri, "m").version)  # registered, never tagged
    with pytest.raises(RegistryError, match=f"Version {version} of 'm' has no recorded SHA-256 .* it is not loaded"):
        load_verified("m", version, tmp_path / "copy")
    store.set_registered_model_alias("m", "champion", version)
    result = subprocess.run(["forgeml", "verify", "--model", "m", "--tracking-uri", mlflow.get_tracking_uri()],
                            capture_output=True, text=True, env=project_env())
    assert result.returncode == 2 and "has no recorded SHA-256" in result.stderr
    assert "files match" not in result.stdout


def test_a_logged_candidate_loads_with_pickle_loading_off_and_still_checks_its_input(store, tmp_path, monkeypatch):
    """A version is a model from code over plain files: MLflow unpickles nothing to load it, and the loaded
    pyfunc refuses a table without the model's columns as the in-memory one does."""
    import mlflow
    import numpy as np
    import pandas as pd
    import torch
    from mlflow.exceptions import MlflowException

    from forgeml.modality import modality_of
    from forgeml.models import TorchClassifier, build_model
    from forgeml.registry.tracking import load_verified, log_candidate, register_candidate

    torch.manual_seed(0)
    classifier = TorchClassifier(build_model({"family": "mlp", "hidden": [4]}, [3], 2), np.array(["no", "yes"]))
    rows = pd.DataFrame(np.random.default_rng(0).random((6, 3)), columns=["a", "b", "c"])
    modality = modality_of({"name": "m", "target": "label"})
    mlflow.set_experiment("candidates")
    _, model_uri = log_candidate("mlp", classifier, {"family": "mlp"}, {"accuracy": 0.5}, rows.head(2), modality,
                                      {}, {}, {})
    version = register_candidate("m", model_uri, "mlp", {})

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    loaded = load_verified("m", version, tmp_path / "copy")
    assert loaded.predict(rows).tolist() == classifier.predict(rows.to_numpy(np.float32)).tolist()
    assert not list((tmp_path / "copy").rglob("*.pkl"))
    with pytest.raises(MlflowException, match=r"missing columns \['c'\]"):
        loaded.predict(rows.drop(columns=["c"]))
