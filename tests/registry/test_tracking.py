"""Reading aliases: "no such alias" is the only answer that means no champion; any other store error stops."""

from __future__ import annotations

from unittest import mock

import pytest

from forgeml.errors import RegistryError
from forgeml.registry.tracking import alias_version


@pytest.fixture
def store(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    client.create_registered_model("m")
    yield client
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


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
